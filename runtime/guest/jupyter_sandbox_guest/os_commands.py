"""``os.system``, ``os.popen`` and ``subprocess`` inside the guest, over the sandbox's own
built-in commands (:mod:`.commands`): ``ls``, ``cat``, ``grep``… run as Python over the
sandbox's filesystem, never as a process on the host.

The guest cannot start processes (WASI has none), so CPython's ``subprocess.Popen`` raises
``OSError: wasi does not support processes``. :class:`SandboxPopen` replaces it: it runs the
command to completion when it is created (or, with ``stdin=PIPE``, once the input is complete:
at ``communicate()``, ``wait()`` or when ``stdin`` is closed) and then behaves as a ``Popen``
whose child has exited. Replacing ``Popen`` rather than each function means ``run``,
``call``, ``check_call``, ``check_output``, ``getoutput``, ``getstatusoutput`` and
``os.popen`` are CPython's own code, so their arguments, text decoding, ``input=`` and
``CalledProcessError`` behave exactly as on the stock kernel.

Real processes (issue 15): ``python``/``python3``/``sys.executable``, ``pip``, ``node``,
``sh``/``bash`` and ``sleep`` given as an argv list start a sandbox process (another guest
instance on its own host thread, :mod:`.processes`), so ``Popen`` returns at once, pipes,
``communicate``, ``poll``, ``wait(timeout)`` (``TimeoutExpired``), ``kill``, ``terminate`` and
``timeout=`` behave as on CPython, and a ``Popen`` not waited on keeps running while later
cells run (a background process). So does ``Popen(LINE, shell=True)`` (``sh -c LINE`` in a
process: ``Popen("python server.py", shell=True)`` keeps running in the background, and is
waitable and killable). Other built-ins given as argv (``ls``, ``cat``…) and the shell lines
that are waited for anyway (``os.system``, ``os.popen``, ``!cmd``, ``%%sh``) run in the
notebook's own interpreter, to completion, as before: they are quick, and a process would
cost a start (the notebook's shell still starts real processes for the external programs a
line names, e.g. ``!python x.py | head -3``); so does a ``shell=True`` line in a sandbox that
cannot start processes. Any other program given as an argv list raises
``FileNotFoundError`` as CPython's ``Popen`` does when the program does not exist: libraries
probe for tools that way (matplotlib runs ``fc-list``) and catch exactly that; through a shell
it is the shell's 127.

A child's inherited stdout/stderr (``os.system``, ``subprocess.run`` without capture) is the
cell's own output, as a real child's fd 1/2 is on ipykernel; IPython's ``!cmd`` writes to the
current ``sys.stdout`` instead, as its ``system_piped`` prints what pexpect reads.
"""

from __future__ import annotations

import errno
import io
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import IO, Any, BinaryIO, cast

from .streams import Utf8Writer

__all__ = ["SandboxPopen", "capture", "install", "run_in_cell", "system"]

#: The cell's stdout/stderr streams, as set up by environment.set_up (a child's fd 1 and 2).
_cell_streams: dict[str, Any] = {}
_pids = itertools.count(1000)


class TextSink(Utf8Writer):
    """A built-in's binary output decoded as ipykernel shows a child's (U+FFFD for undecodable
    bytes) into ``sys.stdout``/``sys.stderr`` as they are at write time, or the cell's own
    stream for a child's inherited fd; ``flush`` (the child is done) writes a split character
    left over too."""

    def __init__(self, name: str, *, cell_stream: bool = False) -> None:
        super().__init__(self._stream)
        self._name = name
        self._cell_stream = cell_stream

    def _stream(self) -> Any:
        if self._cell_stream and self._name in _cell_streams:
            return _cell_streams[self._name]
        return getattr(sys, self._name)

    def flush(self) -> None:
        rest = self._decoder.decode(b"", final=True)
        if rest:
            self._target().write(rest)
        super().flush()


class _FdSink(io.RawIOBase):
    """Writes to a file descriptor (``stdout=open(path, "w")`` passes the file's fd)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        written = 0
        while written < view.nbytes:
            written += os.write(self._fd, view[written:])
        return view.nbytes


class _Discard(io.RawIOBase):
    """``DEVNULL``."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return memoryview(data).nbytes


def _runner() -> Any:
    from .commands import runner  # imported on first use: nothing here slows the start

    return runner


def _run_line(line: str, stdin: BinaryIO, stdout: BinaryIO, stderr: BinaryIO,
              env: Mapping[str, str] | None = None, cwd: str | None = None) -> int:
    """Run a shell line; a syntax error is the shell's exit status 2 with its message."""
    runner = _runner()
    try:
        return int(runner.run(line, stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                              cwd=cwd))
    except runner.ShellSyntaxError as error:
        stderr.write(f"sh: {error}\n".encode())
        return 2
    finally:
        for stream in (stdout, stderr):
            stream.flush()


def run_in_cell(line: str, *, cell_stream: bool = False) -> int:
    """Run ``line`` with its output streamed to the cell as it is produced; the exit status."""
    return _run_line(line, io.BytesIO(),
                     cast(BinaryIO, TextSink("stdout", cell_stream=cell_stream)),
                     cast(BinaryIO, TextSink("stderr", cell_stream=cell_stream)))


def capture(line: str, *, merge_stderr: bool = False) -> tuple[int, bytes, bytes]:
    """Run ``line``; its exit status, stdout and stderr (stderr inside stdout if merged)."""
    out, err = io.BytesIO(), io.BytesIO()
    code = _run_line(line, io.BytesIO(), out, out if merge_stderr else err)
    return code, out.getvalue(), err.getvalue()


def exit_status_to_wait_status(code: int) -> int:
    """What ``os.system`` returns on POSIX: the exit code in the high byte."""
    return (code & 0xFF) << 8 if code >= 0 else (-code) & 0x7F


def system(command: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> int:
    """``os.system``: the command's output goes to the cell; the POSIX wait status."""
    from .shell import flush_streams

    flush_streams()  # what the cell printed before comes first, as with a real child
    return exit_status_to_wait_status(run_in_cell(os.fsdecode(command), cell_stream=True))


#: Programs that run as sandbox processes when given as an argv list.
_PROCESS_PROGRAMS = re.compile(r"(python[0-9.]*|pip[0-9.]*|node|nodejs|sh|bash|sleep)(\.wasm)?")
_BIN_FOLDERS = ("", "/bin", "/usr/bin", "/usr/local/bin")


def _runs_in_sandbox(program: str) -> bool:
    """A built-in (``ls``, ``/bin/ls``) or a program the sandbox runs as a process."""
    from .commands.builtins import PROGRAMS

    if program in PROGRAMS or program == sys.executable:
        return True
    folder, name = os.path.split(program)
    return folder in _BIN_FOLDERS and (name in PROGRAMS
                                       or _PROCESS_PROGRAMS.fullmatch(name) is not None)


def _starts_process(program: str) -> bool:
    """Whether an argv naming ``program`` runs as a sandbox process (see the module)."""
    if program == sys.executable:
        return True
    folder, name = os.path.split(program)
    return folder in _BIN_FOLDERS and _PROCESS_PROGRAMS.fullmatch(name) is not None


class _PipeReader(io.RawIOBase):
    """The reading end of a process's stdout/stderr pipe (``Popen.stdout``)."""

    def __init__(self, pid: int, stream: str) -> None:
        super().__init__()
        self._pid, self._stream = pid, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        from . import processes

        view = memoryview(buffer).cast("B")
        data = processes.read(self._pid, self._stream, view.nbytes) or b""
        view[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            from . import processes

            processes.close_output(self._pid, self._stream)
        super().close()


class _PipeWriter(io.RawIOBase):
    """The writing end of a process's stdin pipe (``Popen.stdin``)."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self._pid = pid

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        from . import processes

        payload = bytes(memoryview(data).cast("B"))
        processes.write(self._pid, payload)
        return len(payload)

    def close(self) -> None:
        if not self.closed:
            from . import processes

            processes.close_stdin(self._pid)
        super().close()


def _translate_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _StdinPipe(io.BytesIO):
    """``stdin=PIPE``: collects what is written; closing it lets the command run."""

    def __init__(self, owner: SandboxPopen) -> None:
        super().__init__()
        self._owner = owner
        self.data = b""

    def close(self) -> None:
        if not self.closed:
            self.data = self.getvalue()
            super().close()
            self._owner._finish()


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


class SandboxPopen(subprocess.Popen[Any]):
    """A ``Popen`` whose child is a sandbox process, or a built-in command run to completion
    (see the module). ``_in_process``: a shell line runs here, not in a process
    (``os.popen``, which waits for it anyway)."""

    def __init__(self, args: Any, bufsize: int = -1, executable: Any = None, stdin: Any = None,
                 stdout: Any = None, stderr: Any = None, *, shell: bool = False,
                 cwd: Any = None, env: Mapping[str, str] | None = None,
                 universal_newlines: bool | None = None, encoding: str | None = None,
                 errors: str | None = None, text: bool | None = None,
                 _in_process: bool = False, **_ignored: Any) -> None:
        self.args = args
        self.returncode: int | None = None
        self.pid = next(_pids)
        self._child_created = False  # nothing for Popen.__del__ to reap
        self.text_mode = bool(encoding or errors or text or universal_newlines)
        self.universal_newlines = self.text_mode
        self.encoding = encoding or "utf-8"
        self.errors = errors or "strict"
        self._shell = shell
        self._argv = self._command(args, shell, executable)
        if isinstance(self._argv, list) and self._argv and not _runs_in_sandbox(self._argv[0]):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self._argv[0])
        self._cwd = os.fspath(cwd) if cwd is not None else None
        self._env = {os.fsdecode(k): os.fsdecode(v) for k, v in env.items()} if env else env
        self._stdout_spec, self._stderr_spec = stdout, stderr
        self._outputs: dict[str, io.BytesIO] = {}
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        self._stdin_pipe: _StdinPipe | None = None
        self.stdin: IO[Any] | None = None
        #: The sandbox process's pid when this Popen runs one (see the module).
        self._process: int | None = None
        if isinstance(self._argv, list) and self._argv and _starts_process(self._argv[0]):
            self._start_process(stdin, bufsize)
            return
        if isinstance(self._argv, str) and not _in_process:
            line = self._argv
            self._argv = ["sh", "-c", line]
            try:
                self._start_process(stdin, bufsize)
                return
            except OSError as error:
                if not _processes_unavailable(error):
                    raise
                self._argv = line  # no processes in this sandbox: the line runs here
        if stdin == subprocess.PIPE:
            self._stdin_pipe = _StdinPipe(self)
            self.stdin = (io.TextIOWrapper(self._stdin_pipe, self.encoding, self.errors,
                                           write_through=True, line_buffering=bufsize == 1)
                          if self.text_mode else self._stdin_pipe)
        else:
            self._run(self._stdin_bytes(stdin))

    # -- what runs ---------------------------------------------------------------------------
    @staticmethod
    def _command(args: Any, shell: bool, executable: Any) -> str | list[str]:
        if shell:
            line = args if isinstance(args, (str, bytes, os.PathLike)) else list(args)[0]
            return os.fsdecode(line)
        if isinstance(args, (str, bytes, os.PathLike)):
            argv = [os.fsdecode(args)]
        else:
            argv = [os.fsdecode(arg) for arg in args]
        if executable is not None and argv:
            argv[0] = os.fsdecode(executable)
        return argv

    @staticmethod
    def _stdin_bytes(stdin: Any) -> bytes:
        if stdin is None or stdin == subprocess.DEVNULL:
            return b""
        if isinstance(stdin, int):
            return _read_all(stdin)
        return _read_all(stdin.fileno())

    def _sink(self, spec: Any, name: str) -> BinaryIO:
        if spec is None:
            return cast(BinaryIO, TextSink(name, cell_stream=True))
        if spec == subprocess.PIPE:
            self._outputs[name] = io.BytesIO()
            return self._outputs[name]
        if spec == subprocess.DEVNULL:
            return cast(BinaryIO, _Discard())
        if not isinstance(spec, int):
            spec.flush()
            spec = spec.fileno()
        if spec in (1, 2):
            return cast(BinaryIO, TextSink("stdout" if spec == 1 else "stderr",
                                           cell_stream=True))
        return cast(BinaryIO, _FdSink(spec))

    def _run(self, stdin: bytes) -> None:
        if self._stdout_spec is None or self._stderr_spec is None:
            from .shell import flush_streams

            flush_streams()
        out = self._sink(self._stdout_spec, "stdout")
        err = (out if self._stderr_spec == subprocess.STDOUT
               else self._sink(self._stderr_spec, "stderr"))
        if isinstance(self._argv, str):
            self.returncode = _run_line(self._argv, io.BytesIO(stdin), out, err, self._env,
                                        self._cwd)
        else:
            try:
                self.returncode = int(_runner().run_argv(
                    self._argv, stdin=io.BytesIO(stdin), stdout=out, stderr=err,
                    env=self._env, cwd=self._cwd))
            finally:
                out.flush()
                err.flush()
        for name, buffer in self._outputs.items():
            buffer.seek(0)
            stream: IO[Any] = (io.TextIOWrapper(buffer, self.encoding, self.errors)
                               if self.text_mode else buffer)
            setattr(self, name, stream)

    def _finish(self) -> None:
        """Run a command that was waiting for its ``stdin=PIPE`` input."""
        pipe = self._stdin_pipe
        if pipe is None or self.returncode is not None:
            return
        self._stdin_pipe = None
        if not pipe.closed:
            if self.stdin is not None and self.stdin is not pipe:
                self.stdin.flush()
            pipe.data = pipe.getvalue()
        self._run(pipe.data)

    # -- a sandbox process ---------------------------------------------------------------
    def _output_spec(self, spec: Any, fd: int) -> dict[str, Any]:
        if spec is None:
            return {"mode": "inherit", "fd": fd}
        if spec == subprocess.PIPE:
            return {"mode": "pipe"}
        if spec == subprocess.DEVNULL:
            return {"mode": "null"}
        if spec == subprocess.STDOUT:
            return {"mode": "stdout"}
        if not isinstance(spec, int):
            name = getattr(spec, "name", None)
            spec.flush()
            if isinstance(name, str) and os.path.isfile(name):
                return {"mode": "file", "path": os.path.abspath(name), "append": True}
            spec = spec.fileno()
        if spec in (1, 2):
            return {"mode": "inherit", "fd": spec}
        self._pumps[fd] = spec  # another fd: copied in when the process is waited for
        return {"mode": "pipe"}

    def _start_process(self, stdin: Any, bufsize: int) -> None:
        from . import processes

        self._pumps: dict[int, int] = {}
        if self._stdout_spec is None or self._stderr_spec is None:
            from .shell import flush_streams

            flush_streams()  # what the cell printed comes first, as with a real child
        if stdin == subprocess.PIPE:
            stdin_spec: dict[str, Any] = {"mode": "pipe"}
        elif stdin is None or stdin == subprocess.DEVNULL:
            stdin_spec = {"mode": "null"}
        else:
            import base64

            stdin_spec = {"mode": "data", "data": base64.b64encode(
                self._stdin_bytes(stdin)).decode("ascii")}
        stdout_spec = self._output_spec(self._stdout_spec, 1)
        stderr_spec = self._output_spec(self._stderr_spec, 2)
        argv = cast(list[str], self._argv)
        env = dict(self._env) if self._env is not None else dict(os.environ)
        cwd = os.path.join(os.getcwd(), self._cwd) if self._cwd else os.getcwd()
        if not os.path.isdir(cwd):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cwd)
        pid = self._process = processes.spawn(argv, cwd=cwd, env=env, stdin=stdin_spec,
                                              stdout=stdout_spec, stderr=stderr_spec,
                                              background=True)
        try:
            self._connect(pid, stdin, bufsize, stdout_spec, stderr_spec)
        except BaseException:  # an interrupt here: the caller never gets this Popen
            processes.kill(pid)
            raise

    def _connect(self, pid: int, stdin: Any, bufsize: int, stdout_spec: dict[str, Any],
                 stderr_spec: dict[str, Any]) -> None:
        self.pid = pid
        self._pipes = [name for name, spec in (("stdout", stdout_spec),
                                               ("stderr", stderr_spec))
                       if spec["mode"] == "pipe"]
        self._collected: dict[str, list[bytes]] = {name: [] for name in self._pipes}
        if stdin == subprocess.PIPE:
            raw_in = _PipeWriter(pid)
            writer: IO[Any] = (cast(IO[Any], raw_in) if bufsize == 0
                               else cast(IO[Any], io.BufferedWriter(raw_in)))
            self.stdin = (io.TextIOWrapper(writer, self.encoding, self.errors,
                                           write_through=True, line_buffering=bufsize == 1)
                          if self.text_mode else writer)
        for name, spec in (("stdout", self._stdout_spec), ("stderr", self._stderr_spec)):
            if spec == subprocess.PIPE:
                reader = io.BufferedReader(_PipeReader(pid, name))
                setattr(self, name, io.TextIOWrapper(reader, self.encoding, self.errors)
                        if self.text_mode else reader)

    def _process_wait(self, timeout: float | None) -> int | None:
        from . import processes

        assert self._process is not None  # noqa: S101 - only called for a process
        if self.returncode is not None:
            return self.returncode
        code = processes.wait(self._process, timeout)
        if code is not None:
            self.returncode = code
            self._pump()
            self._after_exit()
        return code

    def _after_exit(self) -> None:
        name = os.path.basename(cast(list[str], self._argv)[0])
        if name.startswith("pip"):
            import importlib

            importlib.invalidate_caches()  # `pip install` in a process: importable now

    def _pump(self) -> None:
        """Copy what a process wrote for an fd of this guest (``stdout=fd``) into it."""
        if not self._pumps or self._process is None:
            return
        from . import processes

        while True:
            chunks, done = processes.drain(self._process, 0)
            for fd, name in ((1, "stdout"), (2, "stderr")):
                target = self._pumps.get(fd)
                if target is not None and chunks.get(name):
                    _FdSink(target).write(chunks[name])
            if done or not any(chunks.values()):
                return

    def _process_communicate(self, input: Any, timeout: float | None) -> tuple[Any, Any]:
        import time

        from . import processes

        assert self._process is not None  # noqa: S101 - only called for a process
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.stdin is not None and not self.stdin.closed:
            try:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            except BrokenPipeError:
                pass  # the child ended without reading it all, as CPython ignores
        pumped = set(self._pumps.values())
        readers = [n for n in self._pipes if getattr(self, n) is not None]
        if readers or pumped:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                chunks, done = processes.drain(self._process, remaining)
                for name, data in chunks.items():
                    fd = 1 if name == "stdout" else 2
                    if fd in self._pumps:
                        _FdSink(self._pumps[fd]).write(data)
                    elif name in self._collected:
                        self._collected[name].append(data)
                if done:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise subprocess.TimeoutExpired(self.args, cast(float, timeout),
                                                    self._so_far("stdout"),
                                                    self._so_far("stderr"))
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if self._process_wait(remaining) is None:
            raise subprocess.TimeoutExpired(self.args, cast(float, timeout))
        results: list[Any] = []
        for name in ("stdout", "stderr"):
            stream = getattr(self, name)
            if stream is None:
                results.append(None)
                continue
            data = b"".join(self._collected.get(name, []))
            stream.close()
            if self.text_mode:
                results.append(_translate_newlines(data.decode(self.encoding, self.errors)))
            else:
                results.append(data)
        return results[0], results[1]

    def _so_far(self, name: str) -> bytes | None:
        parts = self._collected.get(name)
        return b"".join(parts) if parts else None

    # -- the Popen interface -----------------------------------------------------------------
    def communicate(self, input: Any = None,
                    timeout: float | None = None) -> tuple[Any, Any]:
        if self._process is not None:
            return self._process_communicate(input, timeout)
        if self._stdin_pipe is not None and self.stdin is not None:
            if input:
                self.stdin.write(input)
            self.stdin.close()  # runs the command
        self._finish()
        results: list[Any] = []
        for stream in (self.stdout, self.stderr):
            if stream is None:
                results.append(None)
            else:
                results.append(stream.read())
                stream.close()
        return results[0], results[1]

    def poll(self) -> int | None:
        if self._process is not None and self.returncode is None:
            from . import processes

            code = processes.poll(self._process)
            if code is not None:
                self.returncode = code
                self._pump()
                self._after_exit()
        return self.returncode  # built-ins: None only while waiting for stdin=PIPE input

    def wait(self, timeout: float | None = None) -> int:
        if self._process is not None:
            if self.stdin is not None and not self.stdin.closed:
                try:
                    self.stdin.close()
                except BrokenPipeError:
                    pass
            code = self._process_wait(timeout)
            if code is None:
                raise subprocess.TimeoutExpired(self.args, cast(float, timeout))
            return code
        if self._stdin_pipe is not None and self.stdin is not None and not self.stdin.closed:
            self.stdin.close()
        self._finish()
        return cast(int, self.returncode)

    def send_signal(self, sig: int) -> None:
        if self._process is not None:
            if self.returncode is None:
                from . import processes

                processes.kill(self._process, int(sig))
            return
        if self.returncode is None:  # never ran: it was still waiting for its input
            self._stdin_pipe = None
            self.returncode = -int(sig)

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self) -> None:
        self.send_signal(9)

    def __enter__(self) -> SandboxPopen:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdout, self.stderr, self.stdin):
            if stream is not None:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass
        self.wait()

    def __del__(self) -> None:
        pass


def _processes_unavailable(error: OSError) -> bool:
    """``proc_spawn`` failed because this sandbox cannot start processes at all (kind
    "process": no base image), not because of a limit: a shell line then runs in-process."""
    return type(error) is OSError and error.errno == errno.EINVAL


def popen(cmd: str, mode: str = "r", buffering: int = -1) -> Any:
    """``os.popen`` as CPython's, but the line runs in the notebook's interpreter (no process
    start: ``os.popen`` waits for the command anyway when its stream is closed)."""
    if not isinstance(cmd, str):
        raise TypeError(f"invalid cmd type ({type(cmd)}, expected string)")
    if mode not in ("r", "w"):
        raise ValueError(f"invalid mode {mode!r}")
    if buffering == 0 or buffering is None:
        raise ValueError("popen() does not support unbuffered streams")
    if mode == "r":
        proc = SandboxPopen(cmd, shell=True, text=True, stdout=subprocess.PIPE,
                            bufsize=buffering, _in_process=True)
        return os._wrap_close(cast(io.TextIOWrapper, proc.stdout), proc)
    proc = SandboxPopen(cmd, shell=True, text=True, stdin=subprocess.PIPE, bufsize=buffering,
                        _in_process=True)
    return os._wrap_close(cast(io.TextIOWrapper, proc.stdin), proc)


def install() -> None:
    """Replace ``subprocess.Popen`` (and so ``run``, ``check_output``…), ``os.popen`` and
    ``os.system``."""
    _cell_streams.update(stdout=sys.stdout, stderr=sys.stderr)
    subprocess.Popen = SandboxPopen  # type: ignore[misc,assignment]
    os.system = system
    os.popen = popen
