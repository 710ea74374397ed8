"""The ``proc_*`` host calls: guest code (the notebook, or a process) starting and driving
processes of its own. The guest's client is ``jupyter_sandbox_guest/processes.py``; the
messages are documented in ``runtime/protocol.py`` (``ProcSpawnCall`` …).

A caller drives only the processes it started. Every wait here is in short slices that check
the caller's wake-up event (set by an interrupt or the cell's deadline, as ``poll_oneoff``
does): then the call returns ``{"interrupted": true}`` at once, the guest meets its
``KeyboardInterrupt`` (or ``TimeoutError``), and a process it was waiting for in the
foreground is interrupted too. While the notebook waits, what its processes write to an
inherited stdout/stderr is moved into the cell (``CellOutput``), counted against the cell's
output cap.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ProcessError, ProcessLimitError, ProcessMemoryError, ProgramNotFoundError
from ..wasi_errno import WasiError
from .pipes import WAIT_SLICE, HostPipe, PipeStopped
from .process import Process, Redirect, Sink, Stdio, discard

if TYPE_CHECKING:
    from .table import ProcessTable

#: The most bytes one ``proc_read`` answers with (the guest asks again for more).
MAX_READ = 1 << 20


class Caller(Protocol):
    """Who makes the call: the notebook (``CellCaller``) or a process (``ProcessCaller``)."""

    #: Processes started by this caller carry it; only it may drive them.
    key: object

    def wakeup(self) -> threading.Event | None: ...

    def inherit(self, fd: int, owner: Callable[[], Process | None] = ...) -> Sink: ...

    def drain(self) -> None: ...


class ProcessCaller:
    """A process starting processes: an inherited stream is its own stdout/stderr."""

    def __init__(self, process: Process, table: ProcessTable) -> None:
        self.key: object = process.pid
        self._process = process

    def wakeup(self) -> threading.Event | None:
        instance = self._process._instance
        return None if instance is None else instance.wasi.state.wakeup

    def inherit(self, fd: int, owner: Callable[[], Process | None] = lambda: None) -> Sink:
        process = self._process

        def write(data: bytes) -> None:
            try:
                process.on_fd_write(fd, data)
            except WasiError as exc:
                raise BrokenPipeError(str(exc)) from exc

        return write

    def drain(self) -> None:
        """Nothing to move: a process's inherited output went straight to its own."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("data must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"data is not valid base64: {exc}") from exc


def _texts(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return list(value)


def _timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("timeout must be a non-negative number or null")
    return float(value)


#: At most this much of a log is sent to the guest at once (``proc_log``).
LOG_ANSWER_BYTES = 1 << 20


class GuestOps:
    """Answers ``proc_*`` calls for one sandbox's table."""

    def __init__(self, table: ProcessTable) -> None:
        self._table = table

    def handle(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        op = request.get("op")
        handler: Callable[[dict[str, Any], Caller], dict[str, Any]] | None = {
            "proc_spawn": self._spawn, "proc_read": self._read, "proc_write": self._write,
            "proc_close_stdin": self._close_stdin, "proc_close_output": self._close_output,
            "proc_drain": self._drain, "proc_wait": self._wait, "proc_kill": self._kill,
            "proc_list": self._list, "proc_log": self._log,
        }.get(str(op))
        if handler is None:
            return {"error": f"unknown op {op!r}", "kind": "invalid"}
        try:
            caller.drain()
            return handler(request, caller)
        except ProgramNotFoundError as exc:
            return {"error": str(exc), "kind": "not_found"}
        except ProcessLimitError as exc:
            return {"error": str(exc), "kind": "limit"}
        except ProcessMemoryError as exc:
            return {"error": str(exc), "kind": "memory"}
        except ProcessError as exc:
            return {"error": str(exc), "kind": "process"}
        except FileNotFoundError as exc:
            return {"error": str(exc), "kind": "cwd"}
        except ChildProcessError as exc:
            return {"error": str(exc), "kind": "no_process"}
        except (ValueError, TypeError) as exc:
            return {"error": str(exc), "kind": "invalid"}
        finally:
            caller.drain()

    def _process(self, request: dict[str, Any], caller: Caller) -> Process:
        pid = request.get("pid")
        process = self._table.find(pid) if isinstance(pid, int) else None
        if process is None or process.parent_key != caller.key:
            raise ChildProcessError(f"no process {pid!r} started here (a restore stops the "
                                    "processes of the state it leaves)")
        return process

    # -- spawn ------------------------------------------------------------------------------
    def _sink(self, spec: object, fd: int, caller: Caller, process_stop: Callable[[], bool],
              stdio: Stdio, owner: Callable[[], Process | None] = lambda: None) -> Sink:
        if not isinstance(spec, dict):
            raise ValueError("stdout/stderr must be an object with a 'mode'")
        mode = spec.get("mode")
        name = "stdout" if fd == 1 else "stderr"
        if mode == "pipe":
            pipe = stdio.pipes[name] = HostPipe()
            return lambda data: pipe.write(data, process_stop)
        if mode == "inherit":  # the starter's own stream (``"fd": 2``: stdout=sys.stderr)
            target = spec.get("fd", fd)
            return caller.inherit(2 if target == 2 else 1, owner)
        if mode == "null":
            return discard
        if mode == "file":
            path = spec.get("path")
            if not isinstance(path, str):
                raise ValueError("a file redirection needs its 'path'")
            stdio.files[fd] = Redirect(path, bool(spec.get("append", True)))
            return discard
        raise ValueError(f"unknown output mode {mode!r}")

    def _spawn(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        argv = _texts(request.get("argv"), "argv")
        env = request.get("env")
        if env is not None and (not isinstance(env, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            raise ValueError("env must map strings to strings")
        cwd = request.get("cwd")
        if not isinstance(cwd, str):
            raise ValueError("cwd must be a string")
        stdin_spec = request.get("stdin") or {"mode": "null"}
        stdin = HostPipe(capacity=None)
        if not isinstance(stdin_spec, dict):
            raise ValueError("stdin must be an object with a 'mode'")
        if stdin_spec.get("mode") == "data":
            stdin.write(_unb64(stdin_spec.get("data", "")))
            stdin.close_write()
        elif stdin_spec.get("mode") != "pipe":
            stdin.close_write()
        stdio = Stdio(stdin)
        holder: list[Process] = []

        def stop() -> bool:
            if not holder:
                return False
            process = holder[0]
            if process.cancel.is_set():
                return True
            instance = process._instance
            return instance is not None and instance.wasi.state.wakeup.is_set()

        def owner() -> Process | None:
            return holder[0] if holder else None

        stdio.stdout = self._sink(request.get("stdout") or {"mode": "inherit"}, 1, caller,
                                  stop, stdio, owner)
        stderr_spec = request.get("stderr") or {"mode": "inherit"}
        if isinstance(stderr_spec, dict) and stderr_spec.get("mode") == "stdout":
            stdio.merged = True
            if 1 in stdio.files:
                stdio.files[2] = stdio.files[1]
        else:
            stdio.stderr = self._sink(stderr_spec, 2, caller, stop, stdio, owner)
        process = self._table.spawn(
            argv, cwd=cwd, env=env, stdio=stdio, timeout=_timeout(request.get("timeout")),
            background=bool(request.get("background")), origin="cell", parent_key=caller.key,
            before_start=holder.append)
        wakeup = caller.wakeup()
        if wakeup is not None and wakeup.is_set():
            # The caller was interrupted while this call ran: its KeyboardInterrupt lands as
            # soon as it runs again, before it holds the pid, so nothing could stop the
            # process it just started. It is stopped here instead.
            process.kill("the caller was interrupted as it started the process")
        return {"pid": process.pid}

    # -- pipes ------------------------------------------------------------------------------
    def _read(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        process = self._process(request, caller)
        stream = request.get("stream")
        pipe = process.stdio.pipes.get(str(stream))
        if pipe is None:
            raise ValueError(f"process {process.pid}'s {stream} is not a pipe")
        size = request.get("size")
        size = min(size, MAX_READ) if isinstance(size, int) and size > 0 else MAX_READ
        timeout = _timeout(request.get("timeout"))
        deadline = None if timeout is None else time.monotonic() + timeout
        wakeup = caller.wakeup()
        while True:
            slice_ = 0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic()))
            try:
                data = pipe.read(size, slice_, lambda: wakeup is not None and wakeup.is_set())
            except PipeStopped:
                return {"interrupted": True}
            caller.drain()
            if data is not None:
                return {"data": _b64(data), "eof": not data}
            if deadline is not None and time.monotonic() >= deadline:
                return {"timeout": True}

    def _drain(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """What all the process's output pipes hold, once one holds something or all ended
        (``done``), or ``timeout`` passed: reading both at once, as ``communicate`` must, so
        a child filling its stderr pipe never waits for a reader stuck on its stdout."""
        process = self._process(request, caller)
        pipes = process.stdio.pipes
        timeout = _timeout(request.get("timeout"))
        deadline = None if timeout is None else time.monotonic() + timeout
        wakeup = caller.wakeup()
        while True:
            data = {name: pipe.read_all() for name, pipe in pipes.items()}
            done = all(pipe.write_closed for pipe in pipes.values())
            if any(data.values()) or done:
                done = done and all(len(pipe) == 0 for pipe in pipes.values())
                return {"data": {k: _b64(v) for k, v in data.items() if v}, "done": done}
            if wakeup is not None and wakeup.is_set():
                process.interrupt()
                return {"interrupted": True}
            if deadline is not None and time.monotonic() >= deadline:
                return {"data": {}, "done": False}
            process.wait_event().wait(WAIT_SLICE)
            caller.drain()

    def _write(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        process = self._process(request, caller)
        try:
            process.write_stdin(_unb64(request.get("data", "")))
        except BrokenPipeError as exc:
            return {"error": str(exc), "kind": "broken_pipe"}
        except BlockingIOError as exc:
            return {"error": str(exc), "kind": "full"}
        return {}

    def _close_stdin(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        self._process(request, caller).close_stdin()
        return {}

    def _close_output(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """The guest closed its reading end of a pipe: the program's next write is EPIPE."""
        process = self._process(request, caller)
        pipe = process.stdio.pipes.get(str(request.get("stream")))
        if pipe is not None:
            pipe.close_read()
        return {}

    # -- waiting, signals ---------------------------------------------------------------------
    def _wait(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """Until the process ends (``exit_code``), ``timeout`` passes (``exit_code`` null) or
        the caller is interrupted (``interrupted``; the process is interrupted too)."""
        process = self._process(request, caller)
        timeout = _timeout(request.get("timeout"))
        deadline = None if timeout is None else time.monotonic() + timeout
        wakeup = caller.wakeup()
        done = process.wait_event()
        while not done.is_set():
            if wakeup is not None and wakeup.is_set():
                process.interrupt()
                return {"exit_code": None, "interrupted": True}
            wait = WAIT_SLICE
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(wait, remaining)
            done.wait(wait)
            caller.drain()
        return {"exit_code": process.exit_code if done.is_set() else None}

    def _kill(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        process = self._process(request, caller)
        signal = request.get("signal", 9)
        if signal == 2:
            process.interrupt()
        else:
            number = signal if isinstance(signal, int) and 0 < signal < 64 else 9
            process.kill(f"process {process.pid} was killed (signal {number})", -number)
        return {}

    def _list(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        return {"processes": [info.to_json() for info in self._table.list()]}

    def _log(self, request: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """A process's log, the last ``max_bytes`` of it (``%sandbox logs PID``)."""
        process = self._process(request, caller)
        limit = request.get("max_bytes", LOG_ANSWER_BYTES)
        if not isinstance(limit, int) or limit < 0:
            raise ValueError("max_bytes must be a non-negative integer")
        limit = min(limit, LOG_ANSWER_BYTES)
        chunks = process.read_output(0, 0)
        kept: list[list[str]] = []
        size = 0
        for chunk in reversed(chunks):
            if size + len(chunk.data) > limit:
                break
            kept.append([chunk.stream, _b64(chunk.data)])
            size += len(chunk.data)
        kept.reverse()
        info = process.info()
        return {"chunks": kept, "skipped": sum(len(c.data) for c in chunks) - size,
                "state": str(info.state), "exit_code": info.exit_code}
