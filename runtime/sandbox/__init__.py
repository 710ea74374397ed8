"""``Sandbox``: one guest interpreter, its filesystem and limits, driven from one thread.

This module is the facade; each concern lives in a module of this package:

* ``worker``: the guest thread and its job queue (the thread rule, the awaitable entry point);
* ``layout``: mounts, state folders and the guest's environment;
* ``start``: start from a snapshot, the base image or a boot;
* ``operations``: dispatch turns, cells, time limits, interrupts;
* ``output``: the operation in progress and its output (validation, caps, stdin);
* ``guest_calls``: the ``_host.call`` router; ``magics``: ``%snapshot`` and ``%pip``;
* ``snapshots`` and ``recovery``: snapshot, restore, recovery points;
* ``limits``: lowering the limits of the running sandbox;
* ``workspace_mount``: giving a running sandbox its host folder at /workspace;
* ``preview_jobs``: preview requests as operations; ``status``: status and usage;
* ``messages``: the values handed to callers.

Everything that touches the wasmtime store runs on the sandbox's guest thread, and
``GuestInstance`` checks it (``GuestWorker.assert_on_guest_thread``). Public methods may be
called from any thread; they queue work and wait for it, or, from asyncio, ``await
sandbox.run_async(...)``. ``interrupt()`` is the exception: it never waits. The package's
modules share the facade's state (``_instance``, ``_cell``, ``execution_count``...), which is
private to the package.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from .. import protocol, snapshot_signing
from .. import snapshot as snapshot_format
from ..cell_clock import CellClock
from ..config import HostFolderMode, Limits, SandboxConfig
from ..errors import GuestDiedError, SandboxClosedError, SandboxError
from ..files import SandboxFiles
from ..guest_instance import GuestInstance
from ..network.broker import NetworkBroker
from ..network.policy import NetworkPolicy
from ..packages import PackageManager
from ..processes import ProcessTable
from ..protocol import (
    CommInfoReply,
    CommReply,
    CommRequest,
    CompleteReply,
    ExecuteRequest,
    GuestRequest,
    HistoryQuery,
    HistoryReply,
    HistoryRequest,
    InspectReply,
    IsCompleteReply,
    PreviewRequest,
    Unchecked,
)
from ..snapshot_store import SnapshotBudget, SnapshotInfo, SnapshotStore, validate_name
from ..vfs import Quota, VirtualFS
from ..wasi import WasiState
from . import limits as limits_module
from . import magics, operations, preview_jobs, recovery, snapshots, start, status, workspace_mount
from .guest_calls import GuestCalls
from .layout import TMP, WORKSPACE, guest_env, make_mounts
from .messages import (
    ExecuteReply,
    InputHandler,
    Message,
    OnMessage,
    PreviewJob,
    Usage,
    ignore,
)
from .output import Operation
from .recovery import RecoveryPoint
from .start import StartSource
from .status import SandboxStatus
from .worker import GuestWorker

__all__ = ["ExecuteReply", "InputHandler", "Message", "OnMessage", "PreviewJob",
           "RECOVERY_IDLE_SECONDS", "RecoveryPoint", "STREAM_FLUSH_SECONDS", "Sandbox",
           "SandboxStatus", "StartSource", "TMP", "Usage", "WORKSPACE"]

T = TypeVar("T")
log = logging.getLogger("jupyter_sandbox.sandbox")
_sandbox_ids = itertools.count(1)
#: How often a running cell's buffered output is flushed, at most.
STREAM_FLUSH_SECONDS = 0.2
#: How long the guest must be idle after a cell before a recovery point is taken.
RECOVERY_IDLE_SECONDS = 0.5


class Sandbox:
    """A running sandbox. Use as a context manager or call ``close()`` (idempotent)."""

    def __init__(self, config: SandboxConfig | None = None, *,
                 snapshot: bytes | None = None, use_base_image: bool = True) -> None:
        """Start a sandbox: from ``snapshot`` (bytes of a ``Sandbox.snapshot()``) when given,
        else from the machine's base image, else by booting the interpreter.

        Raises ``SnapshotError`` (and starts nothing) when ``snapshot`` cannot be used.
        """
        self.config = config or SandboxConfig()
        self.id = next(_sandbox_ids)
        self._own_state_dir = self.config.state_dir is None
        self.state_dir = Path(self.config.state_dir or tempfile.mkdtemp(prefix="jupyter-sandbox-"))
        self.quota = Quota(self.config.limits.workspace_bytes, self.config.limits.workspace_files)
        self.vfs = VirtualFS(make_mounts(self.config, self.state_dir, self.quota))
        # The guest's state, shared by the package's modules (guest thread only, except
        # where ``interrupt`` and ``status`` read it).
        self._cell: Operation | None = None
        self._pending_request: GuestRequest | None = None
        self._instance: GuestInstance | None = None
        self._closed = False
        self.execution_count = 0
        self._recovery: RecoveryPoint | None = None
        #: Set when a preview request cost the interpreter; shown in the next cell's output.
        self._restart_notice: str | None = None
        #: The host broker every guest socket goes through (runtime/network/): the policy in
        #: force, open connections, the audit. ``set_network_policy`` changes the policy.
        self.network = NetworkBroker(self.config.network, label=f"sandbox {self.id}")
        self._calls = GuestCalls(self)
        #: The sandbox's processes (subprocess, !python, the commands API): runtime/processes.
        self.processes = ProcessTable(self)
        self.files = SandboxFiles(self.vfs, self.quota, self._call)
        self.packages = PackageManager(
            self.state_dir / "user-site", self.quota, self.config.packages,
            self.files.read_bytes, lambda folder: [f.path for f in self.files.list(folder)],
            network=lambda: self.network.policy)
        limits = self.config.limits
        self.snapshots = SnapshotStore(
            self.config.snapshot_dir or self.state_dir / "snapshots",
            SnapshotBudget(limits.snapshot_max_count, limits.snapshot_max_bytes))
        #: What a snapshot restored here may hold (this sandbox's memory limit and quota).
        self.snapshot_bounds = snapshot_format.Bounds.of(
            limits.memory_bytes, limits.workspace_bytes, limits.workspace_files)
        #: How this sandbox started (a ``StartSource``: equal to "snapshot", "base-image" or
        #: "boot").
        self.started_from = StartSource.BOOT
        try:
            self._snapshot_key = snapshot_signing.load_key(self.config.snapshot_key_file)
            image = None if snapshot is None else snapshot_format.decode(
                snapshot, self._snapshot_key, self.snapshot_bounds)
        except BaseException:
            self._closed = True  # nothing runs yet: only the state folder to remove
            if self._own_state_dir:
                shutil.rmtree(self.state_dir, ignore_errors=True)
            raise
        self._clock = CellClock(f"sandbox-{self.id}-cell-clock", STREAM_FLUSH_SECONDS)
        self._worker = GuestWorker(f"sandbox-{self.id}", lambda: recovery.capture(self),
                                   RECOVERY_IDLE_SECONDS)
        try:
            self._call(lambda: self._start(image, use_base_image))
        except BaseException:
            self.close()
            raise

    # -- the worker -----------------------------------------------------------------------
    def _submit(self, func: Callable[[], T]) -> concurrent.futures.Future[T]:
        if self._closed:
            raise SandboxClosedError()
        return self._worker.submit(func)

    def _call(self, func: Callable[[], T]) -> T:
        if self._worker.on_guest_thread():
            return func()
        return self._submit(func).result()

    async def run_async(self, func: Callable[[], T]) -> T:
        """Run ``func`` on the guest thread and await its result without blocking the event
        loop (e.g. ``await sandbox.run_async(lambda: sandbox.execute(code))``): the public
        methods called inside run directly, as they are already on the guest thread.
        Cancelling the await withdraws a job that has not started."""
        if self._closed:
            raise SandboxClosedError()
        return await self._worker.run(func)

    # -- guest thread internals shared with the package's modules --------------------------
    def _start(self, image: snapshot_format.SnapshotImage | None, use_base_image: bool) -> None:
        start.start(self, image, use_base_image)

    def _guest_env(self) -> dict[str, str]:
        return guest_env(self.config)

    def _new_wasi_state(self) -> WasiState:
        return WasiState(self.vfs, ["python"], self._guest_env(), self._calls.on_fd_write)

    def _new_instance(self, state: WasiState) -> GuestInstance:
        return GuestInstance(state, self.processes.notebook_memory_limit(), self._calls.on_call,
                             request_limit=self._calls.request_limit,
                             on_oversized=self._calls.on_oversized,
                             guard=self._worker.assert_on_guest_thread)

    def _operate(self, request: GuestRequest, cell: Operation) -> Unchecked:
        """Run one request through a dispatch turn (guest thread)."""
        return operations.operate(self, request, cell)

    def _decode(self, data: bytes) -> snapshot_format.SnapshotImage:
        return snapshot_format.decode(data, self._snapshot_key, self.snapshot_bounds)

    # -- snapshots ------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The whole sandbox (memory, open files, its files, execution count) as bytes, signed
        with this sandbox's snapshot key.

        Taken between cells: it waits for a running cell to end.
        """
        return self._call(lambda: snapshots.snapshot_bytes(self))

    def restore(self, data: bytes) -> None:
        """Bring the sandbox back to ``data`` (from ``snapshot()``). A snapshot that cannot be
        used raises ``SnapshotError`` and leaves the running sandbox untouched."""
        image = self._decode(data)
        self._call(lambda: snapshots.restore_image(self, image, restore_files=True))

    def save_named(self, name: str) -> SnapshotInfo:
        """Save a named snapshot into ``self.snapshots`` (as ``%snapshot save NAME``), within
        the sandbox's snapshot budget (else ``SnapshotBudgetError``)."""
        validate_name(name)
        self.snapshots.check_budget(name)
        return self.snapshots.save(name, self.snapshot())

    def restore_named(self, name: str) -> None:
        """Restore a named snapshot (as ``%snapshot restore NAME``)."""
        self.restore(self.snapshots.load(name, self.snapshot_bounds))

    def fork(self, count: int = 1, config: SandboxConfig | None = None) -> list[Sandbox]:
        """Start ``count`` new sandboxes from this one's current state, each with its own
        files (a private state folder, whatever this sandbox's ``state_dir``) and fresh
        random streams."""
        if count < 1:
            raise ValueError("fork count must be at least 1")
        data = self.snapshot()
        fork_config = dataclasses.replace(config or self.config, state_dir=None)
        forks: list[Sandbox] = []
        try:
            for _ in range(count):
                forks.append(Sandbox(fork_config, snapshot=data))
        except BaseException:
            for sandbox in forks:
                sandbox.close()
            raise
        return forks

    def save_recovery_point(self) -> int:
        """Take a recovery point now (normally taken after each cell once the sandbox is idle);
        returns the execution count it holds."""
        self._call(lambda: recovery.capture(self))
        return self.recovery_point() or 0

    def recovery_point(self) -> int | None:
        """The execution count the sandbox would return to after a crash, or None."""
        point = self._recovery
        return None if point is None else int(point.header["execution_count"])

    # -- packages -------------------------------------------------------------------------
    def pip(self, action: str, args: list[str] | None = None,
            on_output: Callable[[str], None] | None = None) -> list[str]:
        """``%pip`` from the host (an API client): ``install`` (pip's arguments), ``uninstall``
        (names) or ``list``; pip's progress lines go to ``on_output``. Returns the result
        lines (for ``list``: ``name version origin``). Raises ``PackageError`` on refusal.
        Waits for a running cell. Code already running sees new packages on its next import.
        """
        words = list(args or [])
        output = on_output or (lambda _line: None)
        return self._call(lambda: magics.host_pip(self, action, words, output))

    # -- operations -----------------------------------------------------------------------
    def execute(self, code: str, on_message: OnMessage | None = None, *, silent: bool = False,
                store_history: bool = True, user_expressions: dict[str, str] | None = None,
                input_handler: InputHandler | None = None) -> ExecuteReply:
        """Run a notebook cell; output goes to ``on_message`` as it is produced."""
        cell = Operation(on_message=on_message or ignore, input_handler=input_handler,
                         output_limit=self.config.limits.output_bytes)
        request: ExecuteRequest = {
            "type": "execute", "code": code, "silent": silent, "store_history": store_history,
            "user_expressions": user_expressions or {}, "allow_stdin": input_handler is not None}
        return self._call(lambda: operations.execute(self, request, cell))

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the running cell (any thread; returns at once).

        An interrupt that arrives when no cell runs is ignored.
        """
        operations.interrupt(self)

    def _simple(self, request: GuestRequest) -> Unchecked:
        """The guest's reply to ``request``, which has no output. Unchecked: the methods below
        give it the type of what the shim sends, and the kernel checks the fields it reads."""
        return self._call(lambda: self._operate(request, Operation(on_message=ignore)))

    def complete(self, code: str, cursor_pos: int) -> CompleteReply:
        return cast(CompleteReply, self._simple(
            {"type": "complete", "code": code, "cursor_pos": cursor_pos}))

    def inspect(self, code: str, cursor_pos: int, detail_level: int = 0) -> InspectReply:
        return cast(InspectReply, self._simple(
            {"type": "inspect", "code": code, "cursor_pos": cursor_pos,
             "detail_level": detail_level}))

    def is_complete(self, code: str) -> IsCompleteReply:
        return cast(IsCompleteReply, self._simple({"type": "is_complete", "code": code}))

    def history(self, query: HistoryQuery) -> HistoryReply:
        """Answer a history_request (fields as in the Jupyter protocol) from the guest's IPython."""
        request: HistoryRequest = {**query, "type": "history"}
        return cast(HistoryReply, self._simple(request))

    def comm_info(self, target_name: str | None = None) -> CommInfoReply:
        return cast(CommInfoReply, self._simple({"type": "comm_info", "target_name": target_name}))

    def previews_list(self) -> list[int]:
        """The ports of the preview apps registered in the guest, ascending; raises
        ``errors.GuestRequestError`` when the guest cannot say."""
        return protocol.preview_ports(self._simple({"type": "previews_list"}))

    def preview_stop(self, port: int) -> bool:
        """Stop the preview app registered on ``port`` in the guest; whether one was there.
        Raises ``errors.GuestRequestError`` when the guest refuses or fails."""
        return protocol.preview_stopped(self._simple({"type": "preview_stop", "port": port}))

    def comm_message(self, msg_type: str, content: dict[str, Any], on_message: OnMessage,
                     buffers: list[bytes] | None = None) -> CommReply:
        """Deliver a front end's comm_open/comm_msg/comm_close to the guest; returns the
        guest's answer (``status`` ok, or error with ``ename``/``evalue``)."""
        request: CommRequest = {
            "type": "comm", "msg_type": msg_type, "content": content,
            "buffers": [base64.b64encode(b).decode() for b in buffers or []]}
        cell = Operation(on_message=on_message, output_limit=self.config.limits.output_bytes)
        return cast(CommReply, self._call(lambda: self._operate(request, cell)))

    # -- limits ---------------------------------------------------------------------------
    def lower_limits(self, memory_bytes: int | None = None, workspace_bytes: int | None = None,
                     cell_timeout: float | None = None, *, workspace_files: int | None = None,
                     output_bytes: int | None = None) -> Limits:
        """Lower limits of the running sandbox (``None``: unchanged), e.g. when a pre-started
        sandbox is handed over; returns the new limits. Raises ``LimitRaiseError`` (nothing
        changed) for a limit above the current one or below what is already used. Waits for a
        running cell; a later cell gets the new time limit. See ``limits``."""
        return self._call(lambda: limits_module.lower(
            self, memory_bytes=memory_bytes, workspace_bytes=workspace_bytes,
            workspace_files=workspace_files, cell_timeout=cell_timeout,
            output_bytes=output_bytes))

    # -- the host folder -----------------------------------------------------------------
    def mount_workspace(self, host_folder: str | os.PathLike[str],
                        mode: HostFolderMode = HostFolderMode.OVERLAY) -> Path:
        """Show ``host_folder`` at ``/workspace`` of this running sandbox, which has none yet
        (a pre-started kernel handed to a notebook), exactly as a sandbox started with it:
        ``mode`` overlay or readonly; what the guest did in ``/workspace`` before is removed
        and its working directory set to ``/workspace``. Returns the folder's real path.
        Raises ``WorkspaceMountError`` (nothing changed) when that cannot be done. Waits for
        a running cell. See ``workspace_mount``."""
        return self._call(lambda: workspace_mount.mount(self, host_folder, mode))

    # -- status ---------------------------------------------------------------------------
    def set_network_policy(self, policy: NetworkPolicy) -> None:
        """Replace the network policy (any thread): it applies from the next connection the
        guest opens; connections already open keep going until closed."""
        self.network.set_policy(policy)

    def status(self) -> SandboxStatus:
        """Limits, current usage and mounts, as ``%sandbox`` and the control endpoint show
        them (any thread; never waits for a running cell)."""
        return status.status(self)

    def usage(self) -> Usage:
        return status.usage(self)

    # -- previews: the host side is runtime/previews.py ----------------------------------
    def submit_preview(self, request: PreviewRequest, on_message: OnMessage,
                       on_start: Callable[[], None] | None = None, *,
                       timeout: float | None = None,
                       on_timeout: Callable[[], None] | None = None) -> PreviewJob:
        """Queue a preview request (``http``, ``ws_*``: see protocol.py) behind any running
        cell. ``on_start`` and ``on_message`` (the guest's ``http.*``/``ws.*`` messages) are
        called on the guest thread; cancel the job's future to give up while it waits.

        ``timeout``: seconds the app may take once started. Past it the request is stopped as
        a cell past its deadline is: ``on_timeout`` is called (from another thread), the app
        gets a TimeoutError, and if it does not stop within the grace period the interpreter
        is stopped and brought back from the recovery point, so later cells still run."""
        return preview_jobs.submit(self, request, on_message, on_start, timeout, on_timeout)

    # -- life cycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the guest and free everything. Safe to call twice."""
        if self._closed:
            return
        self.processes.close()
        instance = self._instance
        if self._cell is not None and instance is not None:
            instance.arm_hard_stop(0.0, "the sandbox was closed")
            instance.request_interrupt()

        def shut() -> None:
            if instance is not None:
                instance.close()
            self._instance = None

        try:
            self._worker.submit(shut).result(timeout=30)
        except concurrent.futures.TimeoutError:
            log.warning("sandbox %s: the guest did not stop within 30 s; closing anyway",
                        self.id)
        except (SandboxError, GuestDiedError) as exc:
            log.warning("sandbox %s: closing the guest failed (%s); closing anyway",
                        self.id, exc)
        self._closed = True
        self._worker.stop(timeout=30)
        self._clock.close()
        self.network.close_all("the sandbox was closed")
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
