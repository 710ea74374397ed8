"""Run a command line or an argv with the sandbox's built-in programs: the API that ``!cmd``,
``%%sh``, ``os.system``, ``os.popen`` and ``subprocess`` call.

Pipes run their stages one after the other through in-memory buffers (the guest cannot start
threads), each stage's stdout becoming the next one's stdin; the last stage writes straight to
the caller's stdout, so its output reaches the cell as it is produced. A line runs as a
subshell by default: ``cd``, ``export`` and ``VAR=x`` change only the line's own state, as
``!cd`` does on a stock kernel; ``persistent=True`` applies the line's final directory and
environment to the guest process.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from typing import BinaryIO

from .builtins import PROGRAMS, dispatch
from .expansion import expand_word, expand_words
from .invocation import Invocation, ShellState
from .parser import Command, Pipeline, ShellSyntaxError, Word, parse

__all__ = ["ShellState", "ShellSyntaxError", "run", "run_argv", "run_captured"]

_ASSIGNMENT_NAME = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789")


def _state(env: Mapping[str, str] | None, cwd: str | None) -> ShellState:
    environment = dict(os.environ if env is None else env)
    directory = os.path.normpath(os.path.join(os.getcwd(), cwd)) if cwd else os.getcwd()
    if not os.path.isdir(directory):
        # As subprocess does for a bad cwd: the caller learns before anything runs.
        raise FileNotFoundError(2, "the working directory given to the command does not "
                                "exist; create it or pass an existing cwd", directory)
    return ShellState(environment, directory)


def _persist(state: ShellState) -> None:
    """Make the guest process follow the line's ``cd`` and ``export`` (``persistent=True``)."""
    if state.cwd != os.getcwd():
        os.chdir(state.cwd)
    for name in [n for n in os.environ if n not in state.env]:
        del os.environ[name]
    for name, value in state.env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def run(line: str, *, stdin: BinaryIO | None = None, stdout: BinaryIO, stderr: BinaryIO,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
        persistent: bool = False, state: ShellState | None = None) -> int:
    """Run ``line``; its exit status (2 with the message on stderr for a syntax error).

    ``env``/``cwd`` default to the guest's; pass ``state`` to run several lines in one shell
    (it then also tells where ``cd`` left it)."""
    shell = state if state is not None else _state(env, cwd)
    try:
        pipelines = parse(line)
    except ShellSyntaxError as error:
        stderr.write(os.fsencode(f"sh: {error}\n"))
        _flush(stderr)
        shell.status = 2
        return 2
    source = stdin if stdin is not None else io.BytesIO()
    for pipeline in pipelines:
        if pipeline.connector == "&&" and shell.status != 0:
            continue
        if pipeline.connector == "||" and shell.status == 0:
            continue
        shell.status = _run_pipeline(pipeline, shell, source, stdout, stderr)
    if persistent:
        _persist(shell)
    return shell.status


def _run_pipeline(pipeline: Pipeline, shell: ShellState, stdin: BinaryIO, stdout: BinaryIO,
                  stderr: BinaryIO) -> int:
    """Stages in turn; each stage of a multi-stage pipe runs in its own copy of the state
    (a subshell, as in bash: ``cd x | ls`` leaves the directory alone)."""
    commands = pipeline.commands
    if len(commands) == 1:
        return _run_command(commands[0], shell, stdin, stdout, stderr)
    source: BinaryIO = stdin
    status = 0
    for index, command in enumerate(commands):
        last = index == len(commands) - 1
        buffer = io.BytesIO()
        status = _run_command(command, shell.copy(), source, stdout if last else buffer,
                              stderr)
        source = io.BytesIO(buffer.getvalue())
    return status


def _is_assignment(word: Word) -> bool:
    first = word[0] if word else None
    if first is None or first.quoted or first.variable or "=" not in first.text:
        return False
    name = first.text.split("=", 1)[0]
    return bool(name) and not name[0].isdigit() and set(name) <= _ASSIGNMENT_NAME


def _run_command(command: Command, shell: ShellState, stdin: BinaryIO, stdout: BinaryIO,
                 stderr: BinaryIO) -> int:
    words = list(command.words)
    assignments: dict[str, str] = {}
    while words and _is_assignment(words[0]):
        first, *rest = words.pop(0)
        name, _, value = first.text.partition("=")
        # As in bash, an assignment's value is neither split into fields nor globbed.
        value_word = tuple(replace(part, quoted=True) for part in
                           ((replace(first, text=value),) if value else ()) + tuple(rest))
        assignments[name] = "".join(expand_word(value_word, shell.env, shell.cwd,
                                                shell.status))
    argv = expand_words(words, shell.env, shell.cwd, shell.status)
    with ExitStack() as stack:
        streams: dict[int, BinaryIO] = {0: stdin, 1: stdout, 2: stderr}
        for redirection in command.redirections:
            target = redirection.target
            if isinstance(target, int):
                if target not in streams:
                    stderr.write(os.fsencode(f"sh: {target}: Bad file descriptor\n"))
                    return 1
                streams[redirection.fd] = streams[target]
                continue
            fields = expand_word(target, shell.env, shell.cwd, shell.status)
            if len(fields) != 1:
                shown = "".join(("$" + p.text) if p.variable else p.text for p in target)
                stderr.write(os.fsencode(f"sh: {shown}: ambiguous redirect\n"))
                return 1
            path = os.path.join(shell.cwd, fields[0])
            opened: BinaryIO
            try:
                if redirection.op == "<":
                    opened = stack.enter_context(open(path, "rb"))
                else:
                    opened = stack.enter_context(open(path, "ab" if redirection.op == ">>"
                                                      else "wb"))
            except OSError as error:
                stderr.write(os.fsencode(f"sh: {fields[0]}: {error.strerror or error}\n"))
                return 1
            streams[redirection.fd] = opened
        if not argv:
            shell.env.update(assignments)  # `A=1` alone sets a variable for the line
            return 0
        state = shell
        if assignments:
            state = shell.copy()
            state.env.update(assignments)
        invocation = Invocation(argv, streams[0], streams[1], streams[2], state, dispatch)
        try:
            status = dispatch(invocation)
        finally:
            _flush(streams[1])
            _flush(streams[2])
        if assignments:
            shell.cwd = state.cwd  # `A=1 cd x` still changes directory
        return status


def _flush(stream: BinaryIO) -> None:
    flush = getattr(stream, "flush", None)
    if flush is not None:
        flush()


def _sh(inv: Invocation) -> int:
    """``sh -c LINE`` / ``bash -c LINE`` (and ``sh FILE``): a line in a subshell of this one,
    for ``subprocess.run(['bash', '-c', ...])`` and scripts of built-in commands."""
    args = inv.args
    if args[:1] == ["-c"] and len(args) > 1:
        line = args[1]
    elif args and not args[0].startswith("-"):
        try:
            with open(inv.path(args[0]), "rb") as script:
                line = os.fsdecode(script.read())
        except OSError as error:
            inv.os_error(args[0], error)
            return 127
    else:
        inv.error("only `-c LINE` or a script file are supported in the sandbox")
        return 2
    return run(line, stdin=inv.stdin, stdout=inv.stdout, stderr=inv.stderr,
               state=inv.state.copy())


PROGRAMS.setdefault("sh", _sh)
PROGRAMS.setdefault("bash", _sh)


def _external(inv: Invocation) -> int:
    """``python``, ``pip``, ``node`` in a line (``!python x.py | head -3``): a sandbox
    process (another guest instance), fed the stage's input, its output copied to the
    stage's streams as it comes. A failure to start is the shell's message and status."""
    from .. import processes

    try:
        return processes.run_attached(inv.argv, stdin=inv.stdin, stdout=inv.stdout,
                                      stderr=inv.stderr, env=dict(inv.state.env),
                                      cwd=inv.state.cwd)
    except FileNotFoundError as error:
        inv.error(str(error.strerror or error))
        return 127
    except (BlockingIOError, MemoryError) as error:
        inv.error(f"cannot start: {error}")
        return 126


#: Programs that are sandbox processes rather than built-ins (see :func:`_external`).
EXTERNAL_PROGRAMS = ("python", "python3", "python3.15", "python.wasm", "pip", "pip3", "node",
                     "nodejs")
for _name in EXTERNAL_PROGRAMS:
    PROGRAMS.setdefault(_name, _external)


def run_captured(line: str, *, stdin: bytes = b"", env: Mapping[str, str] | None = None,
                 cwd: str | None = None, merge_stderr: bool = False
                 ) -> tuple[int, bytes, bytes]:
    """Run ``line`` and return ``(status, stdout, stderr)``; with ``merge_stderr`` stderr is
    written into stdout (``2>&1``) and the third item is empty."""
    out = io.BytesIO()
    err = out if merge_stderr else io.BytesIO()
    status = run(line, stdin=io.BytesIO(stdin), stdout=out, stderr=err, env=env, cwd=cwd)
    return status, out.getvalue(), b"" if merge_stderr else err.getvalue()


def run_argv(argv: Sequence[str], *, stdin: BinaryIO | None = None, stdout: BinaryIO,
             stderr: BinaryIO, env: Mapping[str, str] | None = None,
             cwd: str | None = None) -> int:
    """Run one program with ``argv`` as given, no shell parsing (``subprocess`` without
    ``shell=True``): ``*`` and ``$X`` are data."""
    if not argv:
        raise ValueError("run_argv needs at least the program's name in argv")
    state = _state(env, cwd)
    invocation = Invocation([os.fspath(a) for a in argv], stdin or io.BytesIO(), stdout,
                            stderr, state, dispatch)
    try:
        return dispatch(invocation)
    finally:
        _flush(stdout)
        _flush(stderr)
