"""IPython's shell entry points besides ``!cmd`` (``SandboxShell.system``/``getoutput``):
``%%sh``, ``%%bash`` and ``%%script sh|bash`` run their cell through the sandbox's own shell
(:mod:`.commands`), and the shell aliases (bare ``ls``, ``cat``…) are the ones IPython
defines on Linux (less ``--color``).

``%%python``, ``%%python3`` and ``%%script python3`` run the cell in a python process of the
sandbox (the cell is its stdin). Other script magics (``%%perl``, ``%%ruby``, ``%%script
node``…) keep :func:`.unavailable.script_magic_error`: the sandbox has no such programs.

A cell is run as one script: its lines are separated as by ``;``, and a failing line does not
stop the next ones (no ``set -e``). As IPython 9 does, a script that exits non-zero raises
``CalledProcessError`` after its output (unless ``--no-raise-error``); ``--out``/``--err``
store the text instead of showing it. ``--bg`` runs the cell in a background process of the
sandbox (``sh -c CELL`` or ``python3 -``), ``--proc NAME`` keeps its ``Popen``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.utils.process import arg_split

from . import os_commands
from .unavailable import script_magic_error

#: Programs whose cells the sandbox's shell runs (as a path too: ``%%script /bin/bash``).
SHELLS = frozenset({"sh", "bash"})
#: Programs whose cells a python process of the sandbox runs (``%%python3``).
PYTHONS = frozenset({"python", "python3"})

#: The ``ls`` aliases IPython defines on Linux, without the colour switch, which the built-in
#: ``ls`` does not have (the guest reports ``wasi``, which IPython treats as BSD: ``ls -F -G``),
#: and with ``-l`` for GNU's ``-o``.
LS_ALIASES = (
    ("ls", "ls -F"),
    ("ll", "ls -F -l"),
    ("lf", "ls -F -l %l | grep ^-"),
    ("lk", "ls -F -l %l | grep ^l"),
    ("ldir", "ls -F -l %l | grep /$"),
    ("lx", "ls -F -l %l | grep ^-..x"),
)


@magic_arguments.magic_arguments()
@magic_arguments.argument("--out", type=str,
                          help="The variable in which to store stdout from the script.")
@magic_arguments.argument("--err", type=str,
                          help="The variable in which to store stderr from the script.")
@magic_arguments.argument("--bg", action="store_true",
                          help="Run the script in the background (needs sandbox processes).")
@magic_arguments.argument("--proc", type=str,
                          help="The variable in which to store the Popen instance.")
@magic_arguments.argument("--no-raise-error", action="store_false", dest="raise_error",
                          help="Do not raise CalledProcessError when the script fails.")
def _script_arguments(line: str = "") -> None:
    """The options of IPython's ``%%script`` (``script_args``)."""


def _program(argv: list[str]) -> str:
    return argv[0].rsplit("/", 1)[-1] if argv else ""


def _run_process(shell: Any, args: Any, cell: str, argv: list[str]) -> None:
    """``%%python3`` and ``--bg``: the cell is the stdin of a sandbox process running
    ``argv``; in the foreground its output streams into the cell (or into ``--out``/
    ``--err``), with ``--bg`` it keeps running while later cells run (``--proc NAME`` keeps
    its ``Popen``)."""
    import subprocess

    from .shell import flush_streams

    flush_streams()
    if args.bg:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE)
        assert process.stdin is not None  # noqa: S101 - stdin=PIPE
        process.stdin.write(cell.encode())
        process.stdin.close()
        if args.proc:
            shell.user_ns[args.proc] = process
        return
    capture = subprocess.PIPE if (args.out or args.err) else None
    result = subprocess.run(argv, input=cell.encode(), stdout=capture, stderr=capture)
    for name, data, stream in ((args.out, result.stdout, "stdout"),
                               (args.err, result.stderr, "stderr")):
        if data is None:
            continue
        if name:
            shell.user_ns[name] = data.decode("utf-8", "replace")
        elif data:
            sink = os_commands.TextSink(stream)
            sink.write(data)
            sink.flush()
    if args.raise_error and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, cell)


def run_script(shell: Any, options: str, cell: str, magic: str,
               program: list[str] | None = None) -> None:
    """Run ``cell`` through the sandbox's shell (or as the input of ``program``: a python
    process), with ``%%script``'s ``options``."""
    parser = _script_arguments.parser
    args, rest = parser.parse_known_args(arg_split(options, posix=True))
    if program is not None or args.bg:
        if rest:
            raise UsageError(f"%%{magic}: the sandbox takes no arguments for the program "
                             f"({' '.join(rest)}); put them in the cell instead.")
        _run_process(shell, args, cell, program or ["sh", "-c", cell])
        return
    if args.proc:
        raise UsageError(f"%%{magic} --proc needs --bg (the process to keep).")
    if rest:
        raise UsageError(f"%%{magic}: the sandbox's shell takes no arguments "
                         f"({' '.join(rest)}); put them in the cell instead.")
    from .shell import flush_streams

    flush_streams()
    if args.out or args.err:
        code, out, err = os_commands.capture(cell)
        for name, data, stream in ((args.out, out, "stdout"), (args.err, err, "stderr")):
            text = data.decode("utf-8", "replace")
            if name:
                shell.user_ns[name] = text
            elif text:
                sink = os_commands.TextSink(stream)
                sink.write(data)
                sink.flush()
    else:
        code = os_commands.run_in_cell(cell)
    if args.raise_error and code != 0:
        from subprocess import CalledProcessError

        raise CalledProcessError(code, cell)


def _shell_magic(name: str) -> Callable[[str, str], None]:
    def magic(line: str = "", cell: str = "") -> None:
        from IPython import get_ipython

        run_script(get_ipython(), line, cell, name)

    magic.__name__ = name
    magic.__doc__ = f"%%{name}: run the cell with the sandbox's shell (built-in commands)."
    return magic


def _python_magic(name: str) -> Callable[[str, str], None]:
    def magic(line: str = "", cell: str = "") -> None:
        from IPython import get_ipython

        run_script(get_ipython(), line, cell, name, program=["python3", "-"])

    magic.__name__ = name
    magic.__doc__ = f"%%{name}: run the cell in a new python process of the sandbox."
    return magic


def script(line: str = "", cell: str = "") -> None:
    """%%script PROGRAM: ``sh``/``bash`` run the cell with the sandbox's shell, ``python``
    and ``python3`` in a sandbox process; any other program is not available."""
    from IPython import get_ipython

    argv = arg_split(line, posix=True)
    program = next((_program([word]) for word in argv if not word.startswith("-")), "")
    if program not in SHELLS and program not in PYTHONS:
        raise script_magic_error(f"script {program}".rstrip())
    words = list(argv)
    words.remove(next(word for word in argv if not word.startswith("-")))
    run_script(get_ipython(), " ".join(words), cell, "script",
               program=["python3", "-"] if program in PYTHONS else None)


def install(shell: Any) -> None:
    """Register ``%%sh``, ``%%bash`` and ``%%script`` (after :mod:`.unavailable` refused
    every script magic) and the ``ls`` aliases."""
    for name in sorted(SHELLS):
        shell.register_magic_function(_shell_magic(name), "cell", name)
    shell.register_magic_function(script, "cell", "script")
    for name in sorted(PYTHONS):
        shell.register_magic_function(_python_magic(name), "cell", name)
    for alias, command in LS_ALIASES:
        shell.alias_manager.soft_define_alias(alias, command)


__all__ = ["install", "run_script"]
