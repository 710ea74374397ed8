"""One sandbox process as the host sees it: its argv and state, stdin, where its stdout and
stderr go, its output log, and the controls (wait, kill, interrupt). This object is the
``ProcessHandle`` of INTERFACES.md A; every method may be called from any thread.

The code that runs it (a guest instance on its own thread, or the JavaScript engine) lives in
``runner.py``; it calls ``attach`` once it can be interrupted and ``finish`` when it ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..wasi_errno import Errno, WasiError
from .info import OutputChunk, ProcessInfo, ProcessState
from .output_log import OutputLog
from .pipes import HostPipe, PipeStopped

if TYPE_CHECKING:
    from ..guest_instance import GuestInstance

#: Exit status of a killed process (as ``Popen.returncode`` after SIGKILL).
KILLED_STATUS = -9
#: Most bytes buffered for a process's stdin before ``write_stdin`` is refused.
STDIN_BUFFER_BYTES = 16 << 20

#: Where one output stream goes besides the log: called with the bytes; may block (a full
#: pipe) and raise ``BrokenPipeError``.
Sink = Callable[[bytes], None]


def discard(_data: bytes) -> None:
    """``DEVNULL``, or an API process's output (kept in the log only)."""


@dataclass
class Redirect:
    """A stream sent to a file of the sandbox's filesystem instead (``stdout=open(...)``)."""

    path: str
    append: bool = True


@dataclass
class Stdio:
    """How the process's three standard streams are connected."""

    stdin: HostPipe
    stdout: Sink = discard
    stderr: Sink = discard
    #: The pipes the starter reads (``stdout=PIPE``), by stream name.
    pipes: dict[str, HostPipe] = field(default_factory=dict)
    #: fd -> a file redirection (1, 2).
    files: dict[int, Redirect] = field(default_factory=dict)
    #: stderr goes where stdout goes (``stderr=STDOUT``): logged as stdout.
    merged: bool = False


class Process:
    """A running or ended process of one sandbox (``ProcessHandle``)."""

    def __init__(self, pid: int, argv: list[str], cwd: str, env: dict[str, str], stdio: Stdio,
                 *, background: bool, origin: str, log_cap: int, timeout: float | None) -> None:
        self.pid = pid
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.stdio = stdio
        self.background = background
        self.origin = origin
        self.timeout = timeout
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.exit_code: int | None = None
        self.log = OutputLog(log_cap)
        #: Set by ``kill``: the runner stops the program and the status becomes -9.
        self.cancel = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._instance: GuestInstance | None = None
        self._interrupt_hook: Callable[[], None] | None = None
        self._killed = False
        self._kill_status = KILLED_STATUS
        self._why_killed: str | None = None
        #: The status ``process_main`` reported (full int: negative for signals).
        self.reported_status: int | None = None
        #: An interrupt was asked for: one that lands before the program reports a status
        #: (while the interpreter starts it) ends the process as SIGINT would, -2.
        self.interrupt_requested = False
        self.memory_bytes = 0
        self._on_end: list[Callable[[Process], None]] = []
        #: What runs (a ``programs.ProgramKind`` value) and who started it (only that
        #: caller may drive it: "api", "cell" or a parent process's pid); set by the table.
        self.kind = "python"
        self.parent_key: object = origin

    # -- state ------------------------------------------------------------------------------
    @property
    def state(self) -> ProcessState:
        if not self._done.is_set():
            return ProcessState.RUNNING
        return ProcessState.KILLED if self._killed else ProcessState.EXITED

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def info(self) -> ProcessInfo:
        instance = self._instance
        memory = instance.observed_memory_bytes if instance is not None and self.running else 0
        return ProcessInfo(self.pid, list(self.argv), self.cwd, self.state, self.exit_code,
                           self.started_at, self.ended_at, self.background, self.origin,
                           memory or self.memory_bytes if self.running else 0)

    def on_end(self, callback: Callable[[Process], None]) -> None:
        """Call ``callback(self)`` once the process ended (at once if it has)."""
        with self._lock:
            if not self._done.is_set():
                self._on_end.append(callback)
                return
        callback(self)

    # -- output (from the runner's thread) ----------------------------------------------------
    def on_fd_write(self, fd: int, data: bytes) -> None:
        """The program wrote to fd 1 or 2: log it, then send it on (may block on a full
        pipe; a closed reader is EPIPE for the program, a kill EINTR)."""
        if fd == 2 and not self.stdio.merged:
            stream, sink = "stderr", self.stdio.stderr
        else:
            stream, sink = "stdout", self.stdio.stdout
        self.log.append(stream, data)
        try:
            sink(data)
        except BrokenPipeError as exc:
            raise WasiError(Errno.PIPE, "the reader of the pipe is gone") from exc
        except PipeStopped as exc:
            raise WasiError(Errno.INTR, "interrupted") from exc

    def write(self, stream: str, data: bytes) -> None:
        """Host-side output of the program (pip's progress lines, the JavaScript engine)."""
        try:
            self.on_fd_write(2 if stream == "stderr" else 1, data)
        except WasiError:
            pass  # the reader went away: as the program would, go on without it

    def read_stdin(self, size: int, wakeup: threading.Event | None = None) -> bytes:
        """For the program's fd 0: blocks until input or end of input."""
        def stop() -> bool:
            return self.cancel.is_set() or (wakeup is not None and wakeup.is_set())

        try:
            data = self.stdio.stdin.read(size, None, stop)
        except PipeStopped as exc:
            raise WasiError(Errno.INTR, "interrupted") from exc
        return data or b""

    # -- the ProcessHandle interface -----------------------------------------------------------
    def write_stdin(self, data: bytes) -> None:
        """Give the program input. ``BrokenPipeError`` once stdin is closed or it ended."""
        pipe = self.stdio.stdin
        if not self.running or pipe.write_closed or pipe.read_closed:
            raise BrokenPipeError(f"process {self.pid}'s stdin is closed")
        if len(pipe) + len(data) > STDIN_BUFFER_BYTES:
            raise BlockingIOError(f"process {self.pid} has {len(pipe)} bytes of input it has "
                                  "not read yet; wait until it reads them")
        pipe.write(bytes(data))

    def close_stdin(self) -> None:
        self.stdio.stdin.close_write()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, once ended; None when ``timeout`` passed first."""
        if not self._done.wait(timeout):
            return None
        return self.exit_code

    def wait_event(self) -> threading.Event:
        return self._done

    def kill(self, why: str | None = None, status: int = KILLED_STATUS) -> None:
        """Hard stop: the program is stopped at its next check (a long C call finishes first;
        a wait for input, output room, a child or a sleep is cut short). Returns at once;
        ``wait`` tells when it ended. Its status is -9 (``status``: -15 for terminate),
        state ``killed``."""
        with self._lock:
            if self._done.is_set():
                return
            self._killed = True
            self._kill_status = status
            self._why_killed = why
            self.cancel.set()
            instance = self._instance
        self.stdio.stdin.close_write()
        if instance is not None:
            instance.arm_hard_stop(0.0, why or f"process {self.pid} was killed")
            instance.request_interrupt()

    def interrupt(self) -> None:
        """KeyboardInterrupt in a python child (a JavaScript one stops with status 130)."""
        with self._lock:
            instance, hook = self._instance, self._interrupt_hook
            self.interrupt_requested = True
        if instance is not None:
            instance.request_interrupt()
        elif hook is not None:
            hook()

    def read_output(self, offset: int = 0, timeout: float | None = None) -> list[OutputChunk]:
        return self.log.read(offset, timeout)

    # -- for the runner -----------------------------------------------------------------------
    def attach(self, instance: GuestInstance | None,
               interrupt_hook: Callable[[], None] | None = None) -> bool:
        """The runner's instance is up: interrupts and kills reach it from now on. False
        when the process was killed before (the runner then stops without running it)."""
        with self._lock:
            self._instance = instance
            self._interrupt_hook = interrupt_hook
            return not self._killed

    @property
    def killed(self) -> bool:
        return self._killed

    @property
    def why_killed(self) -> str | None:
        return self._why_killed

    def finish(self, status: int) -> None:
        """The program ended with ``status`` (the runner's last word)."""
        with self._lock:
            if self._done.is_set():
                return
            self.exit_code = self._kill_status if self._killed else status
            self.ended_at = time.time()
            self._instance = None
            self._interrupt_hook = None
            callbacks, self._on_end = self._on_end, []
            self._done.set()
        for pipe in self.stdio.pipes.values():
            pipe.close_write()
        self.stdio.stdin.close_read()
        self.log.end()
        for callback in callbacks:
            callback(self)
