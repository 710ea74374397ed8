"""``ProcessTable``: the processes of one sandbox (INTERFACES.md A).

Every method may be called from any thread and none needs the sandbox's guest thread: each
process runs on a thread of its own (``runner.py``), and the table only keeps the list, the
limits and the memory split. Limits: at most ``Limits.max_processes`` running at once
(``ProcessLimitError``), memory split with the notebook (``memory.py``,
``ProcessMemoryError``), a time limit per process (``timeout``, ``watchdog.py``), a cap on each
process's log.

Starting a process is fast because one prepared instance is kept ready after the first start
(the *spare*: restored from the base image and set up by ``process_main.prepare()`` — or, after
the first, restored from the *prepared image* that ``prepare()`` leaves, ``prepared_image.py``
— on its own thread, its memory counted): a start hands the process over to it and a new spare
is made in the background (``_refill_spare``). So a sandbox that never starts a process pays
nothing, and one that does keeps one idle instance (the base image's size, ~50 MiB) and one
thread until it closes.
"""

from __future__ import annotations

import builtins
import itertools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import base_image
from ..errors import ProcessError, ProcessLimitError, ProgramNotFoundError, SandboxClosedError
from ..protocol import ProcessStartAnswer
from .cell_output import CellOutput
from .guest_ops import GuestOps
from .info import OutputChunk, ProcessInfo
from .memory import HEADROOM, MemoryBudget
from .pipes import HostPipe
from .process import Process, Stdio
from .programs import ProgramKind, classify
from .runner import GuestRunner, JavaScriptRunner
from .watchdog import Watchdog

if TYPE_CHECKING:
    from ..packages import PackageManager
    from ..sandbox import Sandbox
    from ..sandbox.output import Operation
    from ..snapshot import SnapshotImage
    from ..vfs import VirtualFS

log = logging.getLogger("jupyter_sandbox.processes")

#: Ended processes kept for ``list``/``get`` (the commands API's status and logs).
KEEP_ENDED = 64
#: Memory a JavaScript process needs at least.
JAVASCRIPT_MINIMUM = 32 << 20
#: After a start that found its spare ready, the next spare is restored once that process
#: ends, or this many seconds after it started (``_refill_spare``).
REFILL_AFTER = 0.05
#: How long ``kill_all`` waits for each process to end.
KILL_WAIT = 10.0

ProcessHandle = Process


class CellCaller:
    """The notebook as a caller of ``proc_*``: inherited output goes to its cell."""

    key: object = "cell"

    def __init__(self, table: ProcessTable, cell: Operation | None) -> None:
        self._table = table
        self._cell = cell

    def wakeup(self) -> threading.Event | None:
        instance = self._table._sandbox._instance
        return None if instance is None else instance.wasi.state.wakeup

    def inherit(self, fd: int, owner: Callable[[], Process | None] = lambda: None
                ) -> Callable[[bytes], None]:
        return self._table.cell_output.sink(fd, owner)

    def drain(self) -> None:
        self._table.cell_output.drain_into(self._cell)


class ProcessTable:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        limits = sandbox.config.limits
        self.max_processes = limits.max_processes
        self._log_cap = limits.process_log_bytes
        self._processes: dict[int, Process] = {}
        self._pids = itertools.count(100)
        self._lock = threading.Lock()
        self._closed = False
        self.budget = MemoryBudget(limits.memory_bytes, limits.process_memory_bytes,
                                   self._notebook_memory, self._set_notebook_limit)
        self.cell_output = CellOutput(limits.output_bytes, self._cell_running)
        self.guest_ops = GuestOps(self)
        self._watchdog = Watchdog(f"sandbox-{sandbox.id}-process-timeouts")
        self._spare: GuestRunner | None = None
        self._spare_keys = itertools.count(1)
        self._runners: dict[object, threading.Thread] = {}
        #: False: no spare (every start restores its own instance).
        self.keep_spare = True
        self._packages: PackageManager | None = None

    # -- the sandbox's side ----------------------------------------------------------------
    @property
    def vfs(self) -> VirtualFS:
        return self._sandbox.vfs

    def _cell_running(self) -> bool:
        """A notebook cell runs now (not a completion or preview request): where the
        inherited output of the notebook's processes goes (``cell_output.py``)."""
        sandbox = self._sandbox
        request = sandbox._pending_request
        return (sandbox._cell is not None and isinstance(request, dict)
                and request.get("type") == "execute")

    def _notebook_memory(self) -> int:
        instance = self._sandbox._instance
        return 0 if instance is None else instance.observed_memory_bytes

    def _set_notebook_limit(self, limit: int) -> None:
        instance = self._sandbox._instance
        if instance is not None:
            instance.set_memory_limit(limit)

    def set_memory_limit(self, limit: int) -> None:
        """The sandbox's memory limit changed (``Sandbox.lower_limits``): the notebook's
        store limit becomes it less what the processes hold."""
        self.budget.limit = limit
        self._set_notebook_limit(self.budget.parent_limit())

    def notebook_memory_limit(self) -> int:
        """The store limit a new notebook instance gets (after a restart or restore)."""
        return self.budget.parent_limit()

    def packages(self) -> PackageManager:
        """A package manager for ``pip`` run as a program: the sandbox's site layer and
        policy, reading the sandbox's files directly (not through the guest thread, which
        may be waiting for this very process)."""
        if self._packages is None:
            from ..files import SandboxFiles
            from ..packages import PackageManager

            sandbox = self._sandbox
            files = SandboxFiles(self.vfs, sandbox.quota, lambda func: func())
            self._packages = PackageManager(
                sandbox.state_dir / "user-site", sandbox.quota, sandbox.config.packages,
                files.read_bytes, lambda folder: [f.path for f in files.list(folder)])
        return self._packages

    def cell_caller(self, cell: Operation | None) -> CellCaller:
        return CellCaller(self, cell)

    def guest_call(self, request: dict[str, Any], cell: Operation | None) -> dict[str, Any]:
        """A ``proc_*`` call of the notebook (guest thread)."""
        return self.guest_ops.handle(request, self.cell_caller(cell))

    # -- INTERFACES.md A -------------------------------------------------------------------
    def start(self, argv: builtins.list[str], *, cwd: str | None = None,
              env: dict[str, str] | None = None, stdin: bytes | None = None,
              keep_stdin_open: bool = False, timeout: float | None = None,
              background: bool = True, origin: str = "api") -> Process:
        """Start ``argv`` in the sandbox; its output is kept in its log (``read_output``).
        ``env`` is added to the sandbox's environment; ``cwd`` defaults to /workspace."""
        from ..sandbox.layout import WORKSPACE

        pipe = HostPipe(capacity=None)
        if stdin:
            pipe.write(bytes(stdin))
        if not keep_stdin_open:
            pipe.close_write()
        environment = self._sandbox._guest_env()
        environment.update(env or {})
        return self.spawn(list(argv), cwd=cwd or WORKSPACE, env=environment, stdio=Stdio(pipe),
                          timeout=timeout, background=background, origin=origin,
                          parent_key=origin)

    def shell(self, command: str, **kw: Any) -> Process:
        return self.start(["sh", "-c", command], **kw)

    def get(self, pid: int) -> Process:
        process = self.find(pid)
        if process is None:
            raise KeyError(f"no process {pid} in this sandbox")
        return process

    def find(self, pid: int) -> Process | None:
        with self._lock:
            return self._processes.get(pid)

    def list(self) -> builtins.list[ProcessInfo]:
        with self._lock:
            processes = sorted(self._processes.values(), key=lambda p: p.pid)
        return [p.info() for p in processes]

    def running(self) -> builtins.list[ProcessInfo]:
        return [info for info in self.list() if info.state == "running"]

    def kill_all(self, why: str = "all the sandbox's processes were stopped"
                 ) -> builtins.list[ProcessInfo]:
        """Kill every running process and wait for them to end; what was killed."""
        with self._lock:
            victims = [p for p in self._processes.values() if p.running]
        for process in victims:
            process.kill(why)
        for process in victims:
            if process.wait(KILL_WAIT) is None:
                log.warning("process %s did not stop within %g s", process.pid, KILL_WAIT)
        return [p.info() for p in victims]

    def read_output(self, pid: int, offset: int = 0,
                    timeout: float | None = None) -> builtins.list[OutputChunk]:
        return self.get(pid).read_output(offset, timeout)

    # -- starting --------------------------------------------------------------------------
    def spawn(self, argv: builtins.list[str], *, cwd: str, env: dict[str, str] | None, stdio: Stdio,
              timeout: float | None, background: bool, origin: str, parent_key: object,
              before_start: Callable[[Process], None] | None = None) -> Process:
        """Start a process with its streams already connected (``start`` and the guest's
        ``proc_spawn``). Raises ``ProgramNotFoundError``, ``ProcessLimitError``,
        ``ProcessMemoryError``, ``SandboxClosedError``."""
        if not argv:
            raise ValueError("argv needs at least the program's name")
        kind = classify(argv[0])
        if kind is ProgramKind.NODE and not _javascript_available():
            raise ProgramNotFoundError(argv[0] + " (JavaScript is not in this build yet)",
                                       [])
        if not _is_dir(self.vfs, cwd):
            raise FileNotFoundError(2, "the working directory for the process does not exist",
                                    cwd)
        if env is None:
            env = self._sandbox._guest_env()
        with self._lock:
            if self._closed or self._sandbox.closed:
                raise SandboxClosedError()
            if sum(1 for p in self._processes.values() if p.running) >= self.max_processes:
                raise ProcessLimitError(self.max_processes)
            pid = next(self._pids)
            process = Process(pid, argv, cwd, env, stdio, background=background, origin=origin,
                              log_cap=self._log_cap, timeout=timeout)
            process.kind = kind
            process.parent_key = parent_key
            self._processes[pid] = process
        try:
            self._launch(process, kind)
        except BaseException:
            with self._lock:
                self._processes.pop(pid, None)
            raise
        if before_start is not None:
            before_start(process)
        if timeout is not None:
            self._watchdog.watch(process, timeout)
        self._prune()
        return process

    def _launch(self, process: Process, kind: ProgramKind) -> None:
        name = f"sandbox-{self._sandbox.id}-process-{process.pid}"
        if kind is ProgramKind.NODE:
            grant = self.budget.grant(process.pid, JAVASCRIPT_MINIMUM)
            script = JavaScriptRunner(self, process, grant, name, process.pid)
            self._track(process.pid, script.thread)
            return
        image = self._image()
        process.memory_bytes = image.memory_bytes  # until its runner reports
        minimum = image.memory_bytes + HEADROOM
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and spare.error is not None:
            spare.discard()
            spare = None
        #: Starts come back to back (the spare was not ready yet, or there was none):
        #: the next spare is restored at once rather than after this process.
        hurried = spare is None or not spare.ready.is_set()
        if spare is not None:
            try:
                grant = self.budget.grant(process.pid, minimum, replaces=spare.budget_key)
            except BaseException:
                with self._lock:
                    if self._spare is None and not self._closed:
                        self._spare = spare
                        spare = None
                if spare is not None:
                    spare.discard()
                raise
            with self._lock:
                self._runners[process.pid] = self._runners.pop(spare.budget_key, spare.thread)
            spare.budget_key = process.pid
            spare.thread.name = name
            spare.hand_over(process, grant)
        else:
            grant = self.budget.grant(process.pid, minimum)
            runner = GuestRunner(self, image, name, process.pid)
            self._track(process.pid, runner.thread)
            runner.hand_over(process, grant)
        self._refill_spare(image, None if hurried else process)

    def _image(self) -> SnapshotImage:
        # Built when missing (this sandbox may not have written one: started from a snapshot,
        # with its own environment, or without the base image), so a first process works.
        image = base_image.load_or_build(self._sandbox.snapshot_bounds)
        if image is None:
            raise ProcessError("the sandbox cannot start processes without the machine's base "
                               "image, and none could be built here (no snapshot signing key, "
                               "or the image is larger than this sandbox's snapshot bounds): "
                               "see the kernel's log, run `jupyter-sandbox warmup`, then try "
                               "again")
        return image

    def _refill_spare(self, image: SnapshotImage, starting: Process | None) -> None:
        """Make the next spare, on its own thread. It restores the prepared image
        (``prepared_image.py``: no ``prepare()``, ~8 ms). After a start that found its
        spare ready (the usual notebook case), the restore begins once ``starting`` ends
        or ``REFILL_AFTER`` passed, so the two do not compete for the CPU while a short
        process runs (python -c pass: ~7 instead of ~13 ms here); after one that did not
        (starts back to back), at once (``starting`` None), so the next start finds it
        nearly ready (~12 instead of ~24 ms)."""
        if not self.keep_spare:
            return
        with self._lock:
            if self._spare is not None or self._closed:
                return
            key = f"spare-{next(self._spare_keys)}"
        size = image.memory_bytes + HEADROOM
        try:
            self.budget.grant(key, size, exactly=size)
        except MemoryError:
            return  # no room for an idle instance: starts restore their own
        runner = GuestRunner(self, image, f"sandbox-{self._sandbox.id}-process-spare", key,
                             after=None if starting is None else starting.wait_event(),
                             at_most=REFILL_AFTER)
        with self._lock:
            self._track_locked(key, runner.thread)
            if self._spare is None and not self._closed:
                self._spare = runner
                return
        runner.discard()

    def _track(self, key: object, thread: threading.Thread) -> None:
        with self._lock:
            self._track_locked(key, thread)

    def _track_locked(self, key: object, thread: threading.Thread) -> None:
        self._runners[key] = thread

    def runner_ended(self, key: object) -> None:
        """A runner's thread is done with its instance: give its memory back."""
        self.budget.release(key)
        with self._lock:
            self._runners.pop(key, None)

    def start_answer(self, process: Process) -> ProcessStartAnswer:
        return {"kind": str(process.kind), "argv": list(process.argv),
                "env": dict(process.env), "cwd": process.cwd}

    def _prune(self) -> None:
        with self._lock:
            ended = [p for p in self._processes.values() if not p.running]
            for process in sorted(ended, key=lambda p: p.pid)[:-KEEP_ENDED or None]:
                del self._processes[process.pid]

    # -- life cycle ------------------------------------------------------------------------
    def threads(self) -> builtins.list[threading.Thread]:
        """The runner threads alive now (tests: none is left behind)."""
        with self._lock:
            return [t for t in self._runners.values() if t.is_alive()]

    def close(self) -> None:
        """Kill every process, drop the spare, stop the watchdog (``Sandbox.close``)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        self.kill_all("the sandbox was closed")
        if spare is not None:
            spare.discard()
            spare.thread.join(timeout=KILL_WAIT)
        self._watchdog.close()


def _is_dir(vfs: VirtualFS, path: str) -> bool:
    from ..wasi_errno import WasiError

    try:
        return vfs.is_dir(path)
    except WasiError:
        return False


def _javascript_available() -> bool:
    try:
        from .. import javascript  # noqa: F401
    except ImportError:
        return False
    return True
