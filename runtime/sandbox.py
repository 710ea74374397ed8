"""``Sandbox``: one guest interpreter, its filesystem and limits, driven from one thread.

Everything that touches the wasmtime store runs on the sandbox's own *guest thread* (with a
large native stack, so deep recursion ends as ``RecursionError`` rather than a crash), fed by a
queue. Public methods may be called from any thread; they queue work and wait for it.
``interrupt()`` is the exception: it never waits.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import concurrent.futures
import itertools
import logging
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import base_image, module_cache, protocol, snapshot_layers, snapshot_signing
from . import snapshot as snapshot_format
from .artifacts import STDLIB_GUEST_PATH, guest_artifacts
from .config import HostFolderMode, SandboxConfig
from .errors import GuestDiedError, SandboxClosedError, SandboxError
from .files import SandboxFiles
from .guest_files import (
    GUEST_SHIM_PATH,
    GUEST_SITE_PACKAGES,
    MPL_DATA_GUEST_PATH,
    SHIM_HOST_DIR,
    mpl_data_dir,
    package_locations,
)
from .cell_clock import CellClock
from .guest_instance import SIGUSR1, GuestInstance
from .packages import USER_SITE_GUEST_PATH, PackageError, PackageManager
from .snapshot_errors import SnapshotError
from .snapshot_store import SnapshotBudget, SnapshotInfo, SnapshotStore, validate_name
from .vfs import FileMount, LayeredMount, Mount, Quota, VirtualFS
from .wasi import WasiState

if TYPE_CHECKING:
    from .previews import PreviewJob

T = TypeVar("T")
log = logging.getLogger("jupyter_sandbox.sandbox")

#: A Jupyter-shaped message: ``{"msg_type": ..., "content": {...}, "metadata": {...}}``.
Message = dict[str, Any]
OnMessage = Callable[[Message], None]
#: Asked for ``input()``/``getpass``: (prompt, password) -> the line. Raise KeyboardInterrupt
#: to interrupt the waiting cell.
InputHandler = Callable[[str, bool], str]

WORKSPACE = "/workspace"
TMP = "/tmp"
_output_log = logging.getLogger("jupyter_sandbox.sandbox.output")
_STREAM_NAMES = {1: "stdout", 2: "stderr"}
_sandbox_ids = itertools.count(1)
#: How often a running cell's buffered output is flushed, at most.
STREAM_FLUSH_SECONDS = 0.2
#: How long the guest must be idle after a cell before a recovery point is taken.
RECOVERY_IDLE_SECONDS = 0.5


@dataclass
class ExecuteReply:
    """The outcome of one cell, shaped like a Jupyter execute_reply."""

    status: str
    execution_count: int
    user_expressions: dict[str, Any] = field(default_factory=dict)
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    #: IPython payloads (the pager's ``obj?`` output), as in ipykernel's reply.
    payload: list[dict[str, Any]] = field(default_factory=list)
    #: Set when the cell killed the interpreter and the sandbox was started again.
    restarted: bool = False


@dataclass(frozen=True)
class RecoveryPoint:
    """Compressed memory and the fd table, taken while idle (see ``recovery_points``)."""

    header: dict[str, Any]
    packed: snapshot_format.Packed


@dataclass(frozen=True)
class Usage:
    memory_bytes: int
    memory_limit: int
    workspace_bytes: int
    workspace_files: int
    workspace_bytes_limit: int
    workspace_files_limit: int


@dataclass
class _Cell:
    """The host-side state of the operation in progress."""

    on_message: OnMessage
    input_handler: InputHandler | None = None
    output_limit: int = 0
    output_used: int = 0
    capped: bool = False
    reply: dict[str, Any] | None = None
    interrupt_reason: str = "none"
    #: What stopped the operation, if anything ("interrupt" or "timeout"); never reset.
    stopped_by: str = ""
    #: A snapshot action the cell asked for (``%snapshot``), done once its turn has ended.
    after: tuple[str, str] | None = None
    decoders: dict[int, codecs.IncrementalDecoder] = field(default_factory=dict)
    #: A preview request (its ``http.*``/``ws.*`` answer is bounded per message, not capped).
    preview: bool = False
    #: Guest requests refused unread for their size, and whether a malformed message (or a
    #: failing consumer) was already reported: one notice per operation.
    oversized: int = 0
    refused_notice: bool = False
    consumer_failed: bool = False
    #: Called (from the clock's thread) when a preview request passes its time limit.
    on_timeout: Callable[[], None] | None = None


def _ignore(_message: Message) -> None:
    return None


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
        self.vfs = VirtualFS(self._mounts())
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._cell: _Cell | None = None
        self._closed = False
        self._instance: GuestInstance | None = None
        self.execution_count = 0
        self._recovery: RecoveryPoint | None = None
        self._recovery_due = False
        #: Set when a preview request cost the interpreter; shown in the next cell's output.
        self._restart_notice: str | None = None
        self.files = SandboxFiles(self.vfs, self.quota, self._call)
        self.packages = PackageManager(
            self.state_dir / "user-site", self.quota, self.config.packages,
            self.files.read_bytes, lambda folder: [f.path for f in self.files.list(folder)])
        limits = self.config.limits
        self.snapshots = SnapshotStore(
            self.config.snapshot_dir or self.state_dir / "snapshots",
            SnapshotBudget(limits.snapshot_max_count, limits.snapshot_max_bytes))
        #: What a snapshot restored here may hold (this sandbox's memory limit and quota).
        self.snapshot_bounds = snapshot_format.Bounds.of(
            limits.memory_bytes, limits.workspace_bytes, limits.workspace_files)
        #: How this sandbox started: "snapshot", "base-image" or "boot".
        self.started_from = "boot"
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
        self._thread = self._start_guest_thread()
        try:
            self._call(lambda: self._start(image, use_base_image))
        except BaseException:
            self.close()
            raise

    # -- set-up -------------------------------------------------------------------------
    def _mounts(self) -> list[Mount]:
        cfg = self.config
        upper_workspace = self.state_dir / "workspace"
        upper_tmp = self.state_dir / "tmp"
        upper_site = self.state_dir / "user-site"
        for folder in (upper_workspace, upper_tmp, upper_site):
            folder.mkdir(parents=True, exist_ok=True)
            self.quota.count_existing(folder)
        lower = cfg.host_folder if cfg.host_folder_mode is not HostFolderMode.OFF else None
        if lower is not None and not Path(lower).is_dir():
            raise SandboxError(f"the host folder to mount does not exist: {lower}")
        mounts: list[Mount] = [
            FileMount(STDLIB_GUEST_PATH, guest_artifacts().stdlib_zip),
            LayeredMount(MPL_DATA_GUEST_PATH, mpl_data_dir(module_cache.cache_dir()), None),
            LayeredMount(GUEST_SHIM_PATH, SHIM_HOST_DIR, None),
            LayeredMount(WORKSPACE, Path(lower) if lower else None, upper_workspace, self.quota,
                         protect_lower=cfg.host_folder_mode is HostFolderMode.READONLY),
            LayeredMount(TMP, None, upper_tmp, self.quota),
            # packages added with %pip (runtime/packages.py), last on the guest's sys.path
            LayeredMount(USER_SITE_GUEST_PATH, None, upper_site, self.quota),
        ]
        for name, host in package_locations().items():
            point = f"{GUEST_SITE_PACKAGES}/{host.name if host.is_file() else name}"
            if host.is_file():
                mounts.append(FileMount(point, host))
            else:
                mounts.append(LayeredMount(point, host, None))
        return mounts

    def _guest_env(self) -> dict[str, str]:
        env = {
            "HOME": WORKSPACE,
            "TMPDIR": TMP,
            "MPLCONFIGDIR": f"{TMP}/.matplotlib",
            "IPYTHONDIR": f"{TMP}/.ipython",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONIOENCODING": "utf-8",
            "TERM": "xterm-256color",
        }
        env.update(self.config.env)
        return env

    def _start_guest_thread(self) -> threading.Thread:
        previous = threading.stack_size(module_cache.GUEST_THREAD_STACK)
        try:
            thread = threading.Thread(target=self._work, name=f"sandbox-{self.id}", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
        return thread

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=RECOVERY_IDLE_SECONDS if self._recovery_due else None)
            except queue.Empty:
                self._capture_recovery_point()
                continue
            if job is None:
                return
            func, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(func())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                future.set_exception(exc)

    def _submit(self, func: Callable[[], T]) -> concurrent.futures.Future[T]:
        if self._closed:
            raise SandboxClosedError()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((func, future))
        return future

    def _call(self, func: Callable[[], T]) -> T:
        if threading.current_thread() is self._thread:
            return func()
        return self._submit(func).result()

    def _start(self, image: snapshot_format.SnapshotImage | None, use_base_image: bool) -> None:
        if image is not None:
            self._restore_image(image, restore_files=True)
            self.started_from = "snapshot"
            return
        base = base_image.load(self.snapshot_bounds) if use_base_image else None
        if base is not None:
            try:
                self._restore_image(base, restore_files=True)
            except SnapshotError as exc:
                log.warning("the base image cannot be used here (%s); booting instead", exc)
                base_image.discard(base)
            else:
                self._operate({"type": "configure", "env": self._guest_env(), "cwd": WORKSPACE,
                               "execution_count": self.execution_count},
                              _Cell(on_message=_ignore))
                self.started_from = "base-image"
                return
        self._boot()
        key = base_image.key() if use_base_image and not self.config.env else None
        if key is not None:
            base_image.save(self._snapshot_bytes(kind="base-image", key=key))

    def _boot(self) -> None:
        """Start a fresh guest and bring the shim up (guest thread)."""
        state = WasiState(self.vfs, ["python"], self._guest_env(), self._on_fd_write)
        self._instance = self._new_instance(state)
        setup = (f"import sys; sys.path[:0] = [{GUEST_SHIM_PATH!r}, {GUEST_SITE_PACKAGES!r}]; "
                 f"sys.path.append({USER_SITE_GUEST_PATH!r})")
        if self._instance.turn(setup) != 0:
            raise SandboxError("the guest interpreter failed to start")
        boot = {"type": "boot", "env": self._guest_env(), "cwd": WORKSPACE,
                "execution_count": self.execution_count}
        said: list[str] = []

        def collect(message: Message) -> None:
            content = message["content"]
            said.append(content.get("text") or "\n".join(content.get("traceback") or []))

        try:
            self._operate(boot, _Cell(on_message=collect, output_limit=1 << 20))
            # exec in a fresh namespace, so the imports leave no names in the user's __main__
            imports = f"for name in {base_image.WARM_IMPORTS!r}: __import__(name)"
            warm = f"exec({imports!r}, {{}})"
            if self._instance.turn(warm) != 0:
                raise SandboxError("warm imports failed")
        except SandboxError as exc:
            raise SandboxError(f"the guest shim failed to start: {exc}\n{''.join(said)}") from exc

    # -- snapshots ------------------------------------------------------------------------
    def _writable_mounts(self) -> dict[str, LayeredMount]:
        return {m.point: m for m in self.vfs.mounts
                if isinstance(m, LayeredMount) and m.upper is not None}

    def _snapshot_bytes(self, kind: str = "user", include_files: bool = True,
                        key: bytes | None = None) -> bytes:
        """Encode the sandbox as it is between turns (guest thread), signed with ``key``
        (default: this sandbox's snapshot key)."""
        instance = self._instance
        if instance is None:
            raise SandboxClosedError()
        mounts = self._writable_mounts()
        header = {
            "kind": kind,
            "execution_count": self.execution_count,
            "fds": instance.wasi.state.describe_fds(),
            "whiteouts": {point: sorted(m.whiteouts) for point, m in mounts.items()},
            "monotonic_ns": instance.wasi.now_ns(1),
        }
        layers = snapshot_layers.pack(
            {point: Path(m.upper) for point, m in mounts.items() if m.upper}
        ) if include_files else None
        return snapshot_format.encode(header, instance.memory_view(), layers,
                                      key or self._snapshot_key)

    def _restore_image(self, image: snapshot_format.SnapshotImage, restore_files: bool) -> None:
        """Replace the running guest with ``image`` (guest thread), all or nothing.

        ``decode`` checked the header and memory against this sandbox's limits. Here the
        layers are unpacked into a staging folder (checked entry by entry as they are read),
        the memory is written into a new instance, and only then are the staged files swapped
        in and the new interpreter started; any failure puts the old files, interpreter,
        whiteouts and quota back and raises ``SnapshotError``.
        """
        header = image.header
        if image.memory_bytes > self.config.limits.memory_bytes:
            raise SnapshotError(
                f"the snapshot holds {image.memory_bytes >> 20} MiB of memory, more than this "
                f"sandbox's limit of {self.config.limits.memory_bytes >> 20} MiB")
        mounts = self._writable_mounts()
        staged = None
        if restore_files and image.layers is not None:
            missing = set(image.layers.points) - set(mounts)
            if missing:
                raise SnapshotError(f"the snapshot holds files for {sorted(missing)}, which "
                                    "this sandbox does not have")
            staged = snapshot_layers.stage(
                image.layers.frame, image.layers.raw_bytes,
                {point: Path(m.upper) for point, m in mounts.items() if m.upper},
                self.state_dir, self.snapshot_bounds.layers)
        try:
            self._swap_in(image, staged, mounts)
        finally:
            if staged is not None:
                staged.discard()

    def _swap_in(self, image: snapshot_format.SnapshotImage,
                 staged: snapshot_layers.StagedLayers | None,
                 mounts: dict[str, LayeredMount]) -> None:
        header = image.header
        state = WasiState(self.vfs, ["python"], self._guest_env(), self._on_fd_write)
        state.monotonic_offset_ns = max(0, int(header.get("monotonic_ns", 0)) - time.monotonic_ns())
        instance = self._new_instance(state)
        try:
            snapshot_format.write_memory(instance.memory, instance.store, image)
        except BaseException:
            instance.close()
            raise
        old_instance, old_count = self._instance, self.execution_count
        old_whiteouts = {point: mount.whiteouts for point, mount in mounts.items()}
        old_quota = (self.quota.used_bytes, self.quota.used_files)
        try:
            if staged is not None:
                staged.swap_in({point: Path(m.upper) for point, m in mounts.items() if m.upper})
                for point, mount in mounts.items():
                    mount.whiteouts = set(header.get("whiteouts", {}).get(point, []))
                self.quota.used_bytes = self.quota.used_files = 0
                for mount in mounts.values():
                    if mount.upper:
                        self.quota.count_existing(Path(mount.upper))
            state.reopen_fds(header.get("fds", []))
            self._instance = instance
            self.execution_count = int(header.get("execution_count", 0))
            # The image may come from another sandbox (fork, base image, another kernel's
            # checkpoint): give the guest this sandbox's environment (kernel id, preview URL).
            self._operate({"type": "after_restore", "env": self._guest_env()},
                          _Cell(on_message=_ignore))
        except BaseException as exc:
            self._instance, self.execution_count = old_instance, old_count
            for point, mount in mounts.items():
                mount.whiteouts = old_whiteouts[point]
            self.quota.used_bytes, self.quota.used_files = old_quota
            if staged is not None:
                staged.roll_back()
            instance.close()
            if isinstance(exc, (SnapshotError, KeyboardInterrupt, SystemExit)):
                raise
            raise SnapshotError(f"the restored interpreter did not come up ({exc}); the "
                                "sandbox is unchanged") from exc
        if staged is not None:
            staged.commit()
        if old_instance is not None:
            old_instance.close()

    def _decode(self, data: bytes) -> snapshot_format.SnapshotImage:
        return snapshot_format.decode(data, self._snapshot_key, self.snapshot_bounds)

    def snapshot(self) -> bytes:
        """The whole sandbox (memory, open files, its files, execution count) as bytes, signed
        with this sandbox's snapshot key.

        Taken between cells: it waits for a running cell to end.
        """
        return self._call(self._snapshot_bytes)

    def restore(self, data: bytes) -> None:
        """Bring the sandbox back to ``data`` (from ``snapshot()``). A snapshot that cannot be
        used raises ``SnapshotError`` and leaves the running sandbox untouched."""
        image = self._decode(data)
        self._call(lambda: self._restore_image(image, restore_files=True))

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

    # -- the guest's calls ----------------------------------------------------------------
    def _new_instance(self, state: WasiState) -> GuestInstance:
        return GuestInstance(state, self.config.limits.memory_bytes, self._on_guest_call,
                             request_limit=self._request_limit,
                             on_oversized=self._on_oversized_call)

    def _request_limit(self) -> int:
        """The longest ``host.call`` request read from the guest: the output cap plus slack
        (a preview's answer: ``PREVIEW_MESSAGE_BYTES``). Longer ones are refused unread."""
        cell = self._cell
        limit = max(self.config.limits.output_bytes, cell.output_limit if cell else 0)
        if cell is not None and cell.preview:
            limit = max(limit, protocol.PREVIEW_MESSAGE_BYTES)
        return limit + protocol.MESSAGE_SLACK

    def _on_oversized_call(self, length: int) -> bytes:
        """A request too long to read (guest thread): counts as output past the cap."""
        cell = self._cell
        if cell is not None:
            cell.oversized += 1
            if not cell.preview:
                self._cap(cell)
        return protocol.encode({"error": f"the request of {length} bytes is larger than the "
                                         f"{self._request_limit()} bytes the host accepts; it "
                                         "was dropped"})

    def _on_guest_call(self, raw: bytes) -> bytes:
        request = protocol.decode(raw)
        if not isinstance(request, dict):
            return protocol.encode({"error": "a request must be a JSON object"})
        op = request.get("op")
        cell = self._cell
        if cell is None:
            return protocol.encode({"error": "no operation in progress"})
        if op == "request":
            return protocol.encode(self._pending_request)
        if op == "message":
            self._guest_message(cell, request, len(raw))
            return b"{}"
        if op == "reply":
            self._guest_reply(cell, request.get("content"), len(raw))
            return b"{}"
        if op == "input":
            return protocol.encode(self._ask_input(cell, request))
        if op == "interrupt_reason":
            reason, cell.interrupt_reason = cell.interrupt_reason, "none"
            return protocol.encode({"reason": reason})
        if op == "status":
            return protocol.encode(self.status())
        if op == "snapshot":
            return protocol.encode(self._snapshot_op(cell, request))
        if op == "pip":
            return protocol.encode(self._pip_op(cell, request))
        return protocol.encode({"error": f"unknown op {op!r}"})

    def _snapshot_op(self, cell: _Cell, request: dict[str, Any]) -> dict[str, Any]:
        """``%snapshot``: list and delete at once; save and restore need an empty wasm stack,
        so they are done right after the cell's turn ends."""
        action, name = str(request.get("action")), str(request.get("name") or "")
        try:
            if action == "list":
                return {"snapshots": [info.to_json() for info in self.snapshots.list()]}
            if action == "delete":
                self.snapshots.delete(name)
                return {"done": f"Snapshot {name!r} deleted."}
            if action in ("save", "restore"):
                if action == "restore":
                    self.snapshots.info(name)  # fail now if it does not exist
                else:
                    validate_name(name)
                    self.snapshots.check_budget(name)  # the count; bytes once it is taken
                cell.after = (action, name)
                return {"scheduled": True}
        except SandboxError as exc:
            return {"error": str(exc)}
        return {"error": f"unknown snapshot action {action!r}"}

    def _pip_op(self, cell: _Cell, request: dict[str, Any]) -> dict[str, Any]:
        """``%pip``: install, uninstall and list run here, inside the guest's call (the cell
        waits); pip's progress lines become the cell's output as they come."""
        action = str(request.get("action"))
        args = [str(a) for a in request.get("args") or []]

        def output(line: str) -> None:
            self._deliver(cell, {"msg_type": "stream", "metadata": {},
                                 "content": {"name": "stdout", "text": line + "\n"}})

        try:
            if action == "list":
                return {"packages": [d.to_json() for d in self.packages.list()],
                        "site": USER_SITE_GUEST_PATH}
            if action == "uninstall":
                return {"lines": self.packages.uninstall(args)}
            if action == "install":
                cwd = str(request.get("cwd") or WORKSPACE)
                return {"lines": self.packages.install(
                    args, cwd, output, lambda: cell.interrupt_reason != "none"),
                        "site": USER_SITE_GUEST_PATH}
        except PackageError as exc:
            return {"error": str(exc)}
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            return {"error": f"%pip {action} failed on the host: {exc}"}
        return {"error": f"unknown %pip command {action!r}: use install, uninstall or list"}

    def pip(self, action: str, args: list[str] | None = None,
            on_output: Callable[[str], None] | None = None) -> list[str]:
        """``%pip`` from the host (an API client): ``install`` (pip's arguments), ``uninstall``
        (names) or ``list``; pip's progress lines go to ``on_output``. Returns the result
        lines (for ``list``: ``name version origin``). Raises ``PackageError`` on refusal.
        Waits for a running cell. Code already running sees new packages on its next import.
        """
        words = list(args or [])
        output = on_output or (lambda _line: None)

        def run() -> list[str]:
            if action == "list":
                return [f"{d.name} {d.version} {d.origin}" for d in self.packages.list()]
            if action == "uninstall":
                return self.packages.uninstall(words)
            if action == "install":
                return self.packages.install(words, WORKSPACE, output, lambda: self._closed)
            raise PackageError(f"unknown pip action {action!r}: use install, uninstall or list")

        return self._call(run)

    def _after_cell(self, cell: _Cell) -> str | None:
        """Carry out a ``%snapshot save/restore`` the cell asked for and report it in the
        cell's output; returns the error (the cell's reply becomes an error) or None. Never
        raises: the cell always gets its reply, and a failed restore leaves the sandbox as
        it was."""
        if cell.after is None:
            return None
        action, name = cell.after
        cell.after = None
        error = None
        try:
            if action == "save":
                data = self._snapshot_bytes()
                info = self.snapshots.save(name, data)
                text = (f"Snapshot {name!r} saved ({info.size / (1 << 20):.1f} MiB, state after "
                        f"cell [{info.execution_count}]).")
            else:
                image = self._decode(self.snapshots.load(name, self.snapshot_bounds))
                self._restore_image(image, restore_files=True)
                text = (f"Restored snapshot {name!r}: the sandbox is back to its state after "
                        f"cell [{self.execution_count}].")
        except SandboxError as exc:
            error = f"Snapshot {action} failed: {exc}"
        except Exception as exc:  # reported in the cell: the reply is never lost
            log.exception("%%snapshot %s %s failed", action, name)
            error = f"Snapshot {action} failed unexpectedly: {exc!r}"
        self._deliver(cell, {"msg_type": "stream", "metadata": {},
                             "content": {"name": "stderr" if error else "stdout",
                                         "text": (error or text) + "\n"}})
        return error

    def status(self) -> dict[str, Any]:
        """Limits, current usage and mounts, as ``%sandbox`` and the control endpoint show them."""
        limits = self.config.limits
        memory = self._instance.memory_bytes() if self._instance else 0
        mounts = [{"path": m.point, "writable": m.writable,
                   "kind": "file" if isinstance(m, FileMount) else "folder",
                   "host_folder": str(m.lower) if isinstance(m, LayeredMount) and m.lower
                   and m.point == WORKSPACE else None}
                  for m in sorted(self.vfs.mounts, key=lambda m: m.point)
                  if not m.point.startswith(GUEST_SITE_PACKAGES + "/")]
        return {
            "limits": {"memory_bytes": limits.memory_bytes, "output_bytes": limits.output_bytes,
                       "cell_timeout": limits.cell_timeout,
                       "workspace_bytes": limits.workspace_bytes,
                       "workspace_files": limits.workspace_files},
            "usage": {"memory_bytes": memory, "workspace_bytes": self.quota.used_bytes,
                      "workspace_files": self.quota.used_files},
            "host_folder_mode": self.config.host_folder_mode.value
            if self.config.host_folder else HostFolderMode.OFF.value,
            "mounts": mounts,
            "execution_count": self.execution_count,
            #: The cell a crash would bring the sandbox back to (None: a clean restart).
            "recovery_point": self.recovery_point(),
        }

    def _ask_input(self, cell: _Cell, request: dict[str, Any]) -> dict[str, Any]:
        if cell.input_handler is None:
            return {"error": "the front end does not support input requests"}
        prompt = request.get("prompt")
        prompt = prompt if isinstance(prompt, str) else ""
        if not self._charge(cell, len(prompt)):
            prompt = ""  # the prompt counts as output: past the cap, ask without it
        try:
            return {"value": cell.input_handler(prompt, request.get("password") is True)}
        except KeyboardInterrupt:
            return {"interrupted": True}

    def _on_fd_write(self, fd: int, data: bytes) -> None:
        """Raw writes to fd 1/2 (C code, ``os.write``) become stream messages. WASI hands
        over at most ``wasi.MAX_STDIO_WRITE`` bytes per call; past the cap nothing is decoded."""
        cell = self._cell
        if cell is None or cell.capped:
            return
        decoder = cell.decoders.setdefault(fd, codecs.getincrementaldecoder("utf-8")("replace"))
        text = decoder.decode(data)
        if text:
            self._deliver(cell, {"msg_type": "stream",
                                 "content": {"name": _STREAM_NAMES.get(fd, "stdout"), "text": text},
                                 "metadata": {}}, size=len(data))

    # -- output from the guest: bounded, validated, counted ------------------------------
    def _guest_message(self, cell: _Cell, request: dict[str, Any], size: int) -> None:
        """An ``op: message`` request (``size`` bytes of JSON): checked against its type's
        fields (``protocol.clean_message``), then counted and passed on; a malformed one is
        dropped with one notice per operation."""
        try:
            message = protocol.clean_message(request.get("msg_type"), request.get("content"),
                                             request.get("metadata"))
        except protocol.GuestMessageError as exc:
            if self._charge(cell, size) and not cell.refused_notice:
                cell.refused_notice = True
                _output_log.warning("%s", exc)
                self._notify(cell, f"[jupyter-sandbox] {exc}. Further malformed messages of "
                                   "this cell are dropped without notice.")
            return
        self._deliver(cell, message, size=size)

    def _guest_reply(self, cell: _Cell, content: object, size: int) -> None:
        """The operation's reply. It reaches the front end too (an execute_reply carries the
        traceback): counted against the cap, and past it reduced to its status."""
        if not isinstance(content, dict):
            cell.reply = {"status": "error", "ename": "SandboxError",
                          "evalue": "the sandbox sent a malformed reply", "traceback": []}
            return
        if cell.output_limit and not cell.preview and not self._charge(cell, size):
            evalue = content.get("evalue")
            content = {key: content[key] for key in ("status", "execution_count", "ename")
                       if key in content}
            content["evalue"] = evalue[:1000] if isinstance(evalue, str) else ""
        cell.reply = content

    def _charge(self, cell: _Cell, size: int) -> bool:
        """Count ``size`` bytes of output against the cell's cap; False (and the cap notice,
        once) when they do not fit."""
        if cell.capped:
            return False
        if cell.output_used + size > cell.output_limit:
            self._cap(cell)
            return False
        cell.output_used += size
        return True

    def _cap(self, cell: _Cell) -> None:
        if cell.capped:
            return
        cell.capped = True
        limit_mib = cell.output_limit / (1 << 20)
        self._notify(cell, f"\n[jupyter-sandbox] This cell's output passed the limit of "
                           f"{limit_mib:g} MiB; further output from it is dropped.")

    def _notify(self, cell: _Cell, text: str) -> None:
        """The host's own notice in the operation's stderr (never counted, never dropped)."""
        self._pass_on(cell, {"msg_type": "stream", "metadata": {},
                             "content": {"name": "stderr", "text": text + "\n"}})

    def _deliver(self, cell: _Cell, message: Message, size: int | None = None) -> None:
        """Pass a message on. ``size``: its bytes as the guest sent them, counted against the
        cell's output cap (a preview's own answer is not: it goes to the HTTP client, bounded
        per message); None for the host's own messages, which are neither counted nor
        dropped."""
        if size is not None and message["msg_type"] not in protocol.PREVIEW_MESSAGE_TYPES:
            if not self._charge(cell, size):
                return
        self._pass_on(cell, message)

    def _pass_on(self, cell: _Cell, message: Message) -> None:
        try:
            cell.on_message(message)
        except Exception:  # noqa: BLE001 - a broken consumer must not kill the guest
            if not cell.consumer_failed:
                cell.consumer_failed = True
                _output_log.exception("a %s message from the sandbox could not be passed on",
                                      message.get("msg_type"))

    # -- operations -----------------------------------------------------------------------
    def _operate(self, request: dict[str, Any], cell: _Cell) -> dict[str, Any]:
        """Run one request through a dispatch turn (guest thread)."""
        instance = self._instance
        if instance is None:
            raise SandboxClosedError()
        self._pending_request = request
        self._cell = cell
        try:
            status = instance.turn(protocol.DISPATCH_SOURCE)
        finally:
            self._cell = None
            instance.disarm()
        if cell.reply is None and cell.stopped_by:
            # The signal landed outside the shim's handlers (as the turn began): the
            # operation was stopped before it ran.
            ename = "TimeoutError" if cell.stopped_by == "timeout" else "KeyboardInterrupt"
            return {"status": "error", "ename": ename, "evalue": "", "traceback": [],
                    "user_expressions": {}, "execution_count": self.execution_count}
        if cell.oversized and (cell.reply is None or cell.preview):
            # A message (maybe the reply itself) was too large to read: say so instead of
            # answering as if nothing were missing (a preview's response would be cut short).
            why = "the sandbox sent a message larger than the host accepts; it was dropped"
            cell.reply = {"status": "error", "ename": "OutputLimitError", "evalue": why,
                          "traceback": [], "user_expressions": {},
                          "execution_count": self.execution_count, "code": 502,
                          "message": "The app's response was larger than the preview accepts."}
        if cell.reply is None:
            raise SandboxError(f"the guest shim did not answer a {request['type']!r} request "
                               f"(turn status {status})")
        if request["type"] == "execute":
            return protocol.clean_execute_reply(cell.reply, self.execution_count)
        return cell.reply

    def _capture_recovery_point(self) -> None:
        """While idle, keep the changed memory pages (compressed) and the fd table, so a cell
        that kills the interpreter costs only that cell (files stay on disk anyway)."""
        self._recovery_due = False
        instance = self._instance
        if instance is None or not self.config.recovery_points:
            return
        header = {"execution_count": self.execution_count, "fds": instance.wasi.state.describe_fds(),
                  "monotonic_ns": instance.wasi.now_ns(1), "taken": time.time()}
        self._recovery = RecoveryPoint(header, snapshot_format.pack(instance.memory_view()))

    def save_recovery_point(self) -> int:
        """Take a recovery point now (normally taken after each cell once the sandbox is idle);
        returns the execution count it holds."""
        self._call(self._capture_recovery_point)
        return self.recovery_point() or 0

    def recovery_point(self) -> int | None:
        """The execution count the sandbox would return to after a crash, or None."""
        recovery = self._recovery
        return None if recovery is None else int(recovery.header["execution_count"])

    def _restart_after_death(self, cell: _Cell, why: str) -> None:
        if self._instance is not None:
            self._instance.close()
            self._instance = None
        recovery = self._recovery
        if recovery is not None:
            self._restore_image(recovery.packed.image(recovery.header), restore_files=False)
            age = time.time() - recovery.header["taken"]
            state = (f"It was brought back to its state after cell [{self.execution_count}] "
                     f"(saved {age:.0f} s ago): this cell's changes are lost, everything "
                     "before it is kept.")
        else:
            self._start(None, use_base_image=True)
            state = ("It was restarted with a clean state: variables and imports of earlier "
                     "cells are gone.")
        message = (f"The sandbox's interpreter was stopped: {why}. {state} Files in /workspace "
                   "are kept.")
        self._deliver(cell, {"msg_type": "stream", "metadata": {},
                             "content": {"name": "stderr", "text": message + "\n"}})
        if cell.preview:  # nobody saw it: the next cell tells the notebook
            self._restart_notice = message

    def execute(self, code: str, on_message: OnMessage | None = None, *, silent: bool = False,
                store_history: bool = True, user_expressions: dict[str, str] | None = None,
                input_handler: InputHandler | None = None) -> ExecuteReply:
        """Run a notebook cell; output goes to ``on_message`` as it is produced."""
        cell = _Cell(on_message=on_message or _ignore, input_handler=input_handler,
                     output_limit=self.config.limits.output_bytes)
        request = {"type": "execute", "code": code, "silent": silent,
                   "store_history": store_history, "user_expressions": user_expressions or {},
                   "allow_stdin": input_handler is not None}
        return self._call(lambda: self._execute(request, cell))

    def _execute(self, request: dict[str, Any], cell: _Cell) -> ExecuteReply:
        notice, self._restart_notice = self._restart_notice, None
        if notice:
            self._notify(cell, notice)
        self._start_cell_clock(cell)
        try:
            reply = self._operate(request, cell)
        except GuestDiedError as exc:
            self._restart_after_death(cell, str(exc))
            return ExecuteReply("error", self.execution_count, ename="SandboxRestarted",
                                evalue=str(exc), traceback=[f"SandboxRestarted: {exc}"],
                                restarted=True)
        finally:
            self._clock.stop()
            self._recovery_due = True
        self.execution_count = int(reply.get("execution_count", self.execution_count))
        result = ExecuteReply(
            status=reply.get("status", "error"), execution_count=self.execution_count,
            user_expressions=reply.get("user_expressions") or {},
            ename=reply.get("ename", ""), evalue=reply.get("evalue", ""),
            traceback=list(reply.get("traceback") or []),
            payload=list(reply.get("payload") or []))
        failed = self._after_cell(cell)
        if failed is not None and result.status == "ok":
            result = ExecuteReply("error", self.execution_count, ename="SnapshotError",
                                  evalue=failed, traceback=[f"SnapshotError: {failed}"])
        return result

    def _start_cell_clock(self, cell: _Cell, timeout: float | None = None,
                          what: str = "the cell") -> None:
        """While a cell (or a preview request) runs: ask the guest to flush its output
        streams every ``STREAM_FLUSH_SECONDS``, and enforce the time limit (``timeout``,
        default the cell timeout): a soft TimeoutError, then after a grace period a hard stop
        (which kills the interpreter; ``_execute`` or the preview job brings it back from the
        recovery point). ``self._clock.stop()`` ends it."""
        limits = self.config.limits
        instance = self._instance
        if instance is None:
            return
        if timeout is None:
            timeout = limits.cell_timeout
        deadline = None if timeout is None else time.monotonic() + timeout

        def on_deadline() -> None:
            cell.interrupt_reason = "timeout"
            cell.stopped_by = "timeout"
            instance.arm_hard_stop(time.monotonic() + limits.timeout_grace,
                                   f"{what} ran past its time limit of {timeout:g} s "
                                   f"and did not stop within {limits.timeout_grace:g} s")
            instance.request_interrupt()
            if cell.on_timeout is not None:
                cell.on_timeout()

        def after_deadline() -> None:  # keep waking the guest until the hard stop lands
            module_cache.engine().increment_epoch()
            instance.wasi.state.wakeup.set()

        self._clock.run(lambda: instance.request_signal(SIGUSR1), deadline, on_deadline,
                        after_deadline)

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the running cell (any thread; returns at once).

        An interrupt that arrives when no cell runs is ignored.
        """
        cell, instance = self._cell, self._instance
        if cell is None or instance is None:
            return
        if cell.interrupt_reason == "none":
            cell.interrupt_reason = "interrupt"
        cell.stopped_by = cell.stopped_by or "interrupt"
        instance.request_interrupt()

    def _simple(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._call(lambda: self._operate(request, _Cell(on_message=_ignore)))

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        return self._simple({"type": "complete", "code": code, "cursor_pos": cursor_pos})

    def inspect(self, code: str, cursor_pos: int, detail_level: int = 0) -> dict[str, Any]:
        return self._simple({"type": "inspect", "code": code, "cursor_pos": cursor_pos,
                             "detail_level": detail_level})

    def is_complete(self, code: str) -> dict[str, Any]:
        return self._simple({"type": "is_complete", "code": code})

    def history(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer a history_request (fields as in the Jupyter protocol) from the guest's IPython."""
        return self._simple({**request, "type": "history"})

    def comm_info(self, target_name: str | None = None) -> dict[str, Any]:
        return self._simple({"type": "comm_info", "target_name": target_name})

    def comm_message(self, msg_type: str, content: dict[str, Any], on_message: OnMessage,
                     buffers: list[bytes] | None = None) -> dict[str, Any]:
        """Deliver a front end's comm_open/comm_msg/comm_close to the guest; returns the
        guest's answer (``status`` ok, or error with ``ename``/``evalue``)."""
        request = {"type": "comm", "msg_type": msg_type, "content": content,
                   "buffers": [base64.b64encode(b).decode() for b in buffers or []]}
        cell = _Cell(on_message=on_message, output_limit=self.config.limits.output_bytes)
        return self._call(lambda: self._operate(request, cell))

    def usage(self) -> Usage:
        def read() -> int:
            return self._instance.memory_bytes() if self._instance else 0

        limits = self.config.limits
        return Usage(self._call(read), limits.memory_bytes, self.quota.used_bytes,
                     self.quota.used_files, limits.workspace_bytes, limits.workspace_files)

    # -- life cycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the guest and free everything. Safe to call twice."""
        if self._closed:
            return
        if self._cell is not None and self._instance is not None:
            self._instance.arm_hard_stop(0.0, "the sandbox was closed")
            self._instance.request_interrupt()
        instance_box = self._instance

        def shut() -> None:
            if instance_box is not None:
                instance_box.close()
            self._instance = None

        try:
            self._submit(shut).result(timeout=30)
        except (concurrent.futures.TimeoutError, SandboxError, GuestDiedError):
            pass
        self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=30)
        self._clock.close()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- previews: the host side is runtime/previews.py ----------------------------------
    def submit_preview(self, request: dict[str, Any], on_message: OnMessage,
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
        from .previews import PreviewJob

        cell = _Cell(on_message=on_message, output_limit=self.config.limits.output_bytes,
                     preview=True, on_timeout=on_timeout)

        def run() -> dict[str, Any]:
            if on_start is not None:
                on_start()
            if timeout is not None:
                self._start_cell_clock(cell, timeout, "the preview request")
            try:
                return self._operate(request, cell)
            except GuestDiedError as exc:
                self._restart_after_death(cell, str(exc))
                raise
            finally:
                if timeout is not None:
                    self._clock.stop()

        return PreviewJob(self._submit(run), lambda why: self._interrupt_preview(cell, why))

    def _interrupt_preview(self, cell: _Cell, reason: str) -> None:
        """Raise KeyboardInterrupt ("interrupt") or TimeoutError ("timeout") in the preview
        request ``cell``, if it is still the one running (any thread)."""
        instance = self._instance
        if self._cell is cell and instance is not None and cell.stopped_by != "timeout":
            cell.interrupt_reason = reason
            cell.stopped_by = reason
            instance.request_interrupt()
