"""The guest's client of sandbox processes (the host's ``runtime/processes/``): start a
program as a process of its own (another guest instance, on its own host thread) and drive
it. Used by :class:`.os_commands.SandboxPopen` and by the shell's external programs
(``!python x.py | head``). Bytes travel as base64 (``runtime/protocol.py``, ``proc_*``).

Every call that waits returns early when this guest is interrupted (or its cell passes its
time limit): the call then answers ``interrupted`` and the pending signal raises
``KeyboardInterrupt``/``TimeoutError`` here as soon as Python runs again; the loops below
just call again if it has not.
"""

from __future__ import annotations

import base64
import errno
import os
from typing import Any, BinaryIO

from . import bridge

#: Output mode of a stream: "pipe" | "inherit" | "null" | {"mode": "file", ...}.
StreamSpec = dict[str, Any]


def _answer(reply: dict[str, Any], what: str) -> dict[str, Any]:
    """Raise what CPython would for a failed call: FileNotFoundError for an unknown program,
    BlockingIOError (EAGAIN, as fork past RLIMIT_NPROC) at the process limit, MemoryError."""
    if "error" not in reply:
        return reply
    kind, text = reply.get("kind"), str(reply["error"])
    if kind == "not_found":
        raise FileNotFoundError(errno.ENOENT, text, what)
    if kind == "cwd":
        raise FileNotFoundError(errno.ENOENT, text)
    if kind == "limit":
        raise BlockingIOError(errno.EAGAIN, text)
    if kind == "memory":
        raise MemoryError(text)
    if kind == "broken_pipe":
        raise BrokenPipeError(errno.EPIPE, text)
    if kind == "no_process":
        raise ChildProcessError(errno.ECHILD, text)
    raise OSError(errno.EINVAL, text)


def spawn(argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None,
          stdin: StreamSpec | None = None, stdout: StreamSpec | None = None,
          stderr: StreamSpec | None = None, background: bool = False,
          timeout: float | None = None) -> int:
    """Start ``argv``; its pid."""
    reply = bridge.call("proc_spawn", argv=list(argv), cwd=cwd or os.getcwd(),
                        env=dict(os.environ if env is None else env),
                        stdin=stdin or {"mode": "null"}, stdout=stdout or {"mode": "inherit"},
                        stderr=stderr or {"mode": "inherit"}, background=background,
                        timeout=timeout)
    return int(_answer(reply, argv[0])["pid"])


#: The status of a process this guest started that no longer exists: a restore stopped it
#: (the snapshot held no processes), as if killed.
GONE_STATUS = -9


def wait(pid: int, timeout: float | None = None) -> int | None:
    """The exit status, or None when ``timeout`` passed first."""
    while True:
        try:
            reply = _answer(bridge.call("proc_wait", pid=pid, timeout=timeout), "wait")
        except ChildProcessError:
            return GONE_STATUS
        if not reply.get("interrupted"):
            code = reply.get("exit_code")
            return None if code is None else int(code)


def poll(pid: int) -> int | None:
    try:
        reply = _answer(bridge.call("proc_wait", pid=pid, timeout=0), "poll")
    except ChildProcessError:
        return GONE_STATUS
    code = reply.get("exit_code")
    return None if code is None else int(code)


def read(pid: int, stream: str, size: int, timeout: float | None = None) -> bytes | None:
    """Up to ``size`` bytes of the process's ``stream`` pipe; b"" at its end (also for a
    process a restore stopped); None when ``timeout`` passed first."""
    while True:
        try:
            reply = _answer(bridge.call("proc_read", pid=pid, stream=stream, size=size,
                                        timeout=timeout), "read")
        except ChildProcessError:
            return b""
        if reply.get("interrupted"):
            continue
        if reply.get("timeout"):
            return None
        return base64.b64decode(reply.get("data") or "")


def drain(pid: int, timeout: float | None = None) -> tuple[dict[str, bytes], bool]:
    """What the process's stdout/stderr pipes hold now, waiting up to ``timeout`` for some:
    ``({"stdout": ..., "stderr": ...}, all pipes ended)``."""
    while True:
        try:
            reply = _answer(bridge.call("proc_drain", pid=pid, timeout=timeout), "read")
        except ChildProcessError:
            return {}, True
        if reply.get("interrupted"):
            continue
        data = {name: base64.b64decode(value) for name, value in
                (reply.get("data") or {}).items()}
        return data, bool(reply.get("done"))


def write(pid: int, data: bytes) -> None:
    _answer(bridge.call("proc_write", pid=pid, data=base64.b64encode(data).decode("ascii")),
            "write")


def close_stdin(pid: int) -> None:
    bridge.call("proc_close_stdin", pid=pid)


def close_output(pid: int, stream: str) -> None:
    bridge.call("proc_close_output", pid=pid, stream=stream)


def kill(pid: int, signal: int = 9) -> None:
    bridge.call("proc_kill", pid=pid, signal=int(signal))  # an ended one: nothing to do


def log(pid: int, max_bytes: int = 1 << 20) -> tuple[list[tuple[str, bytes]], int, str]:
    """The process's log (all it wrote, also while no cell ran), at most ``max_bytes`` from
    its end: ``([(stream, data)...], bytes left out, state)``."""
    reply = _answer(bridge.call("proc_log", pid=pid, max_bytes=max_bytes), "log")
    chunks = [(str(stream), base64.b64decode(data)) for stream, data in reply["chunks"]]
    return chunks, int(reply.get("skipped") or 0), str(reply.get("state"))


def listing() -> list[dict[str, Any]]:
    return list(bridge.call("proc_list").get("processes") or [])


def run_attached(argv: list[str], *, stdin: BinaryIO, stdout: BinaryIO, stderr: BinaryIO,
                 env: dict[str, str], cwd: str) -> int:
    """Run ``argv`` as a process for one stage of the shell (``!python x.py | head``): the
    stage's input is given whole, its output is copied to the stage's streams as it comes
    (so the last stage's output reaches the cell while it runs). Interrupting stops it."""
    data = stdin.read() if stdin is not None else b""
    pid = spawn(argv, cwd=cwd, env=env, stdin={"mode": "data",
                                               "data": base64.b64encode(data).decode("ascii")},
                stdout={"mode": "pipe"}, stderr={"mode": "pipe"})
    try:
        while True:
            chunks, done = drain(pid)
            for name, target in (("stdout", stdout), ("stderr", stderr)):
                if chunks.get(name):
                    target.write(chunks[name])
                    flush = getattr(target, "flush", None)
                    if flush is not None:
                        flush()
            if done:
                break
        code = wait(pid)
    except BaseException:
        kill(pid)
        raise
    return 0 if code is None else (code if code >= 0 else 128 - code)


__all__ = ["close_output", "close_stdin", "drain", "kill", "listing", "log", "poll", "read",
           "run_attached", "spawn", "wait", "write"]
