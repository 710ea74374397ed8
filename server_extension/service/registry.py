"""The sandboxes of the sandbox service: each one a ``sandboxed-python`` kernel started through
the server's kernel manager (so JupyterLab lists it), with a stable id of its own, a record in
the service's database (``store.py``) and a folder (``<state dir>/<id>``) holding its recovery
point (``resume.snap``) and its named snapshots.

Lifecycle (``lifecycle.py``): every ``TICK_SECONDS`` the reaper looks at each sandbox that no
request is using. Past its ``timeout`` or ``idle_timeout`` it is stopped (snapshotted into its
folder, kernel shut down) or deleted, as its ``on_timeout`` says; a stopped sandbox starts
again on the next request that needs it: a fresh kernel, into which the recovery point is
restored (``PUT /snapshot`` of the control endpoint, which checks the snapshot's signature).
A snapshot that cannot be used makes that sandbox unusable (409, state ``error``) and
executes nothing; the others are unaffected.

Recovery points, so a server killed with SIGKILL loses little: once a running sandbox has
been idle for ``checkpoint_idle_seconds`` after being used, its whole state (memory, open
files, its files) is written to ``resume.snap`` (atomically: temporary file, fsync,
rename), and so is it right after every change the files or packages API makes, before that
request is answered. A clean server stop snapshots every running sandbox (``shutdown``);
a restarted server loads every record (``load``) and resumes each on its next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado.ioloop import PeriodicCallback

from jupyter_sandbox.kernel.control_protocol import SNAPSHOT_SUFFIX as SUFFIX
from jupyter_sandbox.kernel.control_protocol import (
    START_SNAPSHOT_ENV,
    atomic_write,
    invalid_name_message,
    is_snapshot_name,
)

from ..control_client import ControlError
from .errors import ServiceError
from .lifecycle import Lifecycle, LifecyclePolicy, OnTimeout, StopReason, is_finite_number
from .store import RegistryStore

if TYPE_CHECKING:
    from .pool import KernelPool

KERNEL_NAME = "sandboxed-python"
RESUME_FILE = "resume" + SUFFIX
#: A sandbox id (``uuid4().hex``); a stored record with any other id is refused.
SANDBOX_ID = re.compile(r"[0-9a-f]{32}\Z")
#: How often the reaper looks at the sandboxes' timers.
TICK_SECONDS = 0.5
#: Seconds the server's stop waits for each running sandbox's snapshot.
SHUTDOWN_SNAPSHOT_TIMEOUT = 30.0


class SandboxState(str, Enum):
    RUNNING = "running"
    #: Snapshotted and stopped (see the record's ``stopped_reason``); starts again on the next
    #: request.
    STOPPED = "stopped"
    #: Its stored record or its recovery point cannot be used (see ``error``): every request
    #: but GET and DELETE is answered 409, and nothing runs.
    BROKEN = "error"


@dataclass(frozen=True)
class SandboxLimits:
    memory_mib: int
    workspace_mib: int
    #: Seconds per cell; 0 means none.
    cell_timeout: float

    def to_json(self) -> dict[str, Any]:
        return {"memory_mib": self.memory_mib, "workspace_mib": self.workspace_mib,
                "cell_timeout": self.cell_timeout}

    def kernel_arguments(self) -> list[str]:
        return [f"--SandboxKernel.memory_limit_mib={self.memory_mib}",
                f"--SandboxKernel.workspace_quota_mib={self.workspace_mib}",
                f"--SandboxKernel.cell_timeout={self.cell_timeout}"]

    def within(self, requested: Any) -> SandboxLimits:
        """These limits lowered by a request's ``limits`` object (it may not raise them)."""
        if requested is None:
            return self
        if not isinstance(requested, dict):
            raise ServiceError(400, "\"limits\" must be an object")
        unknown = set(requested) - {"memory_mib", "workspace_mib", "cell_timeout"}
        if unknown:
            raise ServiceError(400, f"unknown limits: {', '.join(sorted(unknown))}")
        values = self.to_json()
        for name, value in requested.items():
            integral = name != "cell_timeout"
            if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
                kind = "an integer" if integral else "a number"
                raise ServiceError(400, f"limits.{name} must be {kind}")
            ceiling = values[name]
            if value > ceiling > 0 or (name == "cell_timeout" and ceiling > 0 and value == 0):
                raise ServiceError(400, f"limits.{name} may be at most {ceiling:g} on this server")
            if value < 0 or (integral and value < 1):
                raise ServiceError(400, f"limits.{name} must be positive")
            values[name] = value
        if values["memory_mib"] < 64:
            raise ServiceError(400, "limits.memory_mib must be at least 64 to start Python")
        return SandboxLimits(**values)


def _default_lifecycle() -> Lifecycle:
    return Lifecycle(0.0, 0.0, OnTimeout.STOP)


@dataclass
class SandboxRecord:
    id: str
    limits: SandboxLimits
    metadata: dict[str, Any]
    folder: Path
    lifecycle: Lifecycle = field(default_factory=_default_lifecycle)
    #: Wall-clock times (``time.time()``), kept across server restarts.
    created: float = field(default_factory=time.time)
    kernel_id: str | None = None
    state: SandboxState = SandboxState.RUNNING
    last_activity: float = field(default_factory=time.time)
    #: When its kernel last started (create or resume).
    started_at: float | None = None
    #: When its ``timeout`` passes (None: no lifetime limit).
    expires_at: float | None = None
    stopped_at: float | None = None
    stopped_reason: StopReason | None = None
    #: When its last recovery point (``resume.snap``) was written.
    checkpointed_at: float | None = None
    #: Why it cannot be used (state ``error``).
    error: str | None = None
    #: The network policy asked for through the API (``network`` of POST /sandboxes, PUT
    #: .../network), applied within the administrator's to every kernel it runs in; None:
    #: the administrator's policy as it is.
    network: dict[str, Any] | None = None
    #: Requests using the sandbox right now (it is never stopped while one runs).
    busy: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kernel_id": self.kernel_id, "state": self.state.value,
                "created": self.created, "limits": self.limits.to_json(),
                "metadata": self.metadata, **self.lifecycle.to_json(),
                "started_at": self.started_at, "last_activity": self.last_activity,
                "expires_at": self.expires_at, "stopped_at": self.stopped_at,
                "stopped_reason": None if self.stopped_reason is None
                else self.stopped_reason.value,
                "checkpointed_at": self.checkpointed_at, "error": self.error,
                "network": self.network}

    def persistent(self) -> dict[str, Any]:
        """What the database keeps (``SandboxRegistry.record_from_row`` reads it back)."""
        saved = self.to_json()
        for transient in ("kernel_id", "error"):
            saved.pop(transient)
        return saved


class SandboxRegistry:
    def __init__(self, kernel_manager: Any, control: Any, folder: Path, *,
                 max_sandboxes: int, lifecycle: LifecyclePolicy, limits: SandboxLimits,
                 start_timeout: float, log: logging.Logger,
                 store: RegistryStore | None = None, checkpoint_idle_seconds: float = 0.0,
                 unavailable: str | None = None) -> None:
        self.kernel_manager = kernel_manager
        self.control = control
        self.folder = folder
        self.max_sandboxes = max_sandboxes
        self.lifecycle = lifecycle
        self.limits = limits
        self.start_timeout = start_timeout
        self.log = log
        self.store = store
        self.checkpoint_idle_seconds = checkpoint_idle_seconds
        #: Why the service cannot work (its database is unusable): every request gets 503.
        self.unavailable = unavailable
        self.records: dict[str, SandboxRecord] = {}
        #: The warm pool new sandboxes are taken from (``pool_size`` > 0), else None.
        self.pool: KernelPool | None = None
        self._starting = 0
        self._reaper: PeriodicCallback | None = None
        #: Kernels of deleted sandboxes still shutting down (``delete(wait=False)``).
        self._disposals: set[asyncio.Task[None]] = set()

    # -- records --------------------------------------------------------------------------
    def _check_available(self) -> None:
        if self.unavailable is not None:
            raise ServiceError(503, self.unavailable, "registry_unavailable",
                               "An administrator must fix or move aside the service's "
                               "database (see the server's log); notebooks are not affected.")

    def list(self) -> list[SandboxRecord]:
        self._check_available()
        return list(self.records.values())

    def get(self, sandbox_id: str) -> SandboxRecord:
        self._check_available()
        record = self.records.get(sandbox_id)
        if record is None:
            raise ServiceError(404, f"no sandbox with id {sandbox_id!r}")
        return record

    def _persist(self, record: SandboxRecord) -> None:
        """Write the record (one transaction); a record deleted meanwhile stays deleted."""
        if self.store is None or record.deleted:
            return
        try:
            self.store.save(record.id, record.persistent())
        except sqlite3.Error as exc:
            self.log.error("could not save the record of sandbox %s: %s", record.id, exc)
            raise ServiceError(503, f"the service could not save the record of sandbox "
                                    f"{record.id} ({exc})", "registry_unavailable",
                               "Check the disk of the Jupyter data dir, then try again.") from exc

    def load(self) -> None:
        """Every stored record, as the server found it: sandboxes that were running when the
        server ended without stopping them are ``stopped`` with reason ``server-lost``. A
        record that cannot be used is listed with state ``error`` (it only can be deleted)."""
        if self.store is None:
            return
        for sandbox_id, text in self.store.load():
            record = self.record_from_row(sandbox_id, text)
            self.records[record.id] = record
        self.log.info("the sandbox service has %d sandboxes from earlier runs", len(self.records))

    def record_from_row(self, sandbox_id: str, text: str) -> SandboxRecord:
        """A stored record, checked as a create request would be (the database may have been
        edited): limits within the server's, a valid lifecycle, times as numbers."""
        folder = self.folder / sandbox_id if SANDBOX_ID.match(sandbox_id) else self.folder
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("id") != sandbox_id:
                raise ServiceError(400, "it is not a record of this sandbox")
            if not SANDBOX_ID.match(sandbox_id):
                raise ServiceError(400, "its id is not a sandbox id")
            metadata = data.get("metadata", {})
            if not isinstance(metadata, dict):
                raise ServiceError(400, "its metadata is not an object")
            record = SandboxRecord(sandbox_id, self.limits.within(data.get("limits")),
                                   metadata, folder, self.lifecycle.choose(data))
            network = data.get("network")
            if network is not None and not isinstance(network, dict):
                raise ServiceError(400, "its network policy is not an object")
            record.network = network
            times = {}
            for name in ("created", "last_activity", "started_at", "expires_at", "stopped_at",
                         "checkpointed_at"):
                value = data.get(name)
                if value is not None and not is_finite_number(value):
                    raise ServiceError(400, f"its {name} is not a time")
                times[name] = value
            reason = data.get("stopped_reason")
            stopped = SandboxState.STOPPED.value
            if data.get("state") not in (SandboxState.RUNNING.value, stopped):
                raise ServiceError(400, f"its state {data.get('state')!r} is unknown")
            if reason is not None and reason not in {r.value for r in StopReason}:
                raise ServiceError(400, f"its stopped_reason {reason!r} is unknown")
        except (ValueError, ServiceError) as exc:
            why = exc.message if isinstance(exc, ServiceError) else f"it is not JSON ({exc})"
            self.log.error("the stored record of sandbox %r cannot be used: %s", sandbox_id, why)
            return SandboxRecord(sandbox_id, self.limits, {}, folder, self.lifecycle.default,
                                 created=0.0, state=SandboxState.BROKEN,
                                 error=f"its stored record cannot be used: {why}")
        record.created = times["created"] or 0.0
        record.last_activity = times["last_activity"] or record.created
        record.started_at, record.expires_at = times["started_at"], times["expires_at"]
        record.checkpointed_at = times["checkpointed_at"]
        record.state = SandboxState.STOPPED
        if data["state"] == SandboxState.RUNNING.value:  # the server died under it
            record.stopped_at, record.stopped_reason = time.time(), StopReason.SERVER_LOST
        else:
            record.stopped_at = times["stopped_at"]
            record.stopped_reason = None if reason is None else StopReason(reason)
        return record

    # -- life cycle ---------------------------------------------------------------------
    def start_reaper(self) -> None:
        if self.unavailable is None:
            self._reaper = PeriodicCallback(self.tick, TICK_SECONDS * 1000)
            self._reaper.start()

    async def create(self, limits: Any = None, metadata: Any = None,
                     snapshot: bytes | None = None,
                     lifecycle: Lifecycle | None = None) -> SandboxRecord:
        self._check_available()
        chosen = self.limits.within(limits)
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise ServiceError(400, "\"metadata\" must be an object")
        if len(self.records) + self._starting >= self.max_sandboxes:
            raise ServiceError(429, f"this server already runs its maximum of "
                               f"{self.max_sandboxes} sandboxes; delete one and try again")
        self._starting += 1
        # A warm pool's kernel when one is idle (pool.py): it becomes this sandbox, id and all.
        pooled = self.pool.take() if self.pool is not None else None
        sandbox_id = pooled.sandbox_id if pooled is not None else uuid.uuid4().hex
        record = SandboxRecord(sandbox_id, chosen, metadata, self.folder / sandbox_id,
                               lifecycle or self.lifecycle.default)
        try:
            try:
                record.folder.mkdir(parents=True, exist_ok=pooled is not None)
                if snapshot is not None:  # its first recovery point
                    await asyncio.to_thread(atomic_write, record.folder / RESUME_FILE, snapshot,
                                            0o600)
            except OSError as exc:
                raise ServiceError(503, f"could not write the new sandbox's folder "
                                        f"{record.folder} ({exc})", "storage_failed",
                                   "Check the disk of the Jupyter data dir (space, "
                                   "permissions), then try again.") from exc
            if pooled is not None and self.pool is not None and await self.pool.hand_over(
                    pooled, chosen.to_json(), metadata, snapshot):
                record.kernel_id = pooled.kernel_id
            kernel_id = await self.ensure_running(record)
            if record.started_at is None:  # a pooled kernel, handed over running
                self._mark_started(record, kernel_id, resumed=snapshot is not None)
        except BaseException:
            await self._discard(record)
            raise
        finally:
            self._starting -= 1
        self.records[sandbox_id] = record
        return record

    async def _discard(self, record: SandboxRecord) -> None:
        """Undo a create that failed: its kernel, row and folder."""
        record.deleted = True
        if record.kernel_id is not None and record.kernel_id in self.kernel_manager:
            with contextlib.suppress(Exception):
                await self.kernel_manager.shutdown_kernel(record.kernel_id, now=True)
        if self.store is not None:
            with contextlib.suppress(sqlite3.Error):
                self.store.delete(record.id)
        shutil.rmtree(record.folder, ignore_errors=True)

    def named_snapshot(self, source: Any) -> bytes:
        """The bytes of ``{"sandbox_id", "name"}``, a named snapshot of a sandbox."""
        if not isinstance(source, dict) or not isinstance(source.get("sandbox_id"), str):
            raise ServiceError(
                400, "\"from_snapshot\" must be {\"sandbox_id\": ..., \"name\": ...}")
        record = self.get(source["sandbox_id"])
        name = source.get("name")
        if not is_snapshot_name(name):
            raise ServiceError(400, invalid_name_message(name))
        try:
            return (record.folder / "snapshots" / (name + SUFFIX)).read_bytes()
        except FileNotFoundError as exc:
            raise ServiceError(404, f"sandbox {record.id} has no snapshot named {name!r}") from exc

    async def delete(self, record: SandboxRecord, *, wait: bool = True) -> None:
        """Delete the sandbox: at once gone from the list, the database and every route (404);
        its kernel is shut down and its folder removed before this returns, or, with
        ``wait=False`` (the DELETE route), in the background: a kernel process takes a few
        hundred ms to exit, most of a pooled sandbox's whole lifecycle, and nothing can reach
        it any more. ``shutdown`` waits for those still going."""
        self.records.pop(record.id, None)
        record.deleted = True
        if self.store is not None:
            try:
                self.store.delete(record.id)
            except sqlite3.Error as exc:  # gone from this server run, not from the database
                self.log.error("could not delete the record of sandbox %s: %s", record.id, exc)
        if wait:
            await self._dispose(record)
            return
        task = asyncio.ensure_future(self._dispose(record))
        self._disposals.add(task)
        task.add_done_callback(self._disposal_done)

    def _disposal_done(self, task: asyncio.Task[None]) -> None:
        self._disposals.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("a deleted sandbox's kernel could not be shut down: %s",
                           task.exception())

    async def _dispose(self, record: SandboxRecord) -> None:
        """Shut a deleted sandbox's kernel down, then remove its folder."""
        async with record.lock:
            if record.kernel_id is not None and record.kernel_id in self.kernel_manager:
                with contextlib.suppress(KeyError):
                    await self.kernel_manager.shutdown_kernel(record.kernel_id)
            record.kernel_id = None
        if SANDBOX_ID.match(record.id):  # a tampered id never names a folder to remove
            shutil.rmtree(record.folder, ignore_errors=True)

    async def keep_alive(self, record: SandboxRecord, body: dict[str, Any]) -> SandboxRecord:
        """Reset the sandbox's idle timer and restart its lifetime (``timeout`` seconds from
        now; ``body["timeout"]`` sets a new one, within the server's maximum). A stopped
        sandbox stays stopped (its next use resumes it)."""
        unknown = set(body) - {"timeout"}
        if unknown:
            raise ServiceError(400, f"keep_alive takes only \"timeout\", not "
                                    f"{', '.join(sorted(unknown))}")
        self._check_usable(record)
        timeout = self.lifecycle.seconds(body, "timeout", self.lifecycle.max_timeout,
                                         record.lifecycle.timeout)
        now = time.time()
        record.lifecycle = dataclasses.replace(record.lifecycle, timeout=timeout)
        record.last_activity = now
        record.expires_at = now + timeout if timeout > 0 else None
        self._persist(record)
        return record

    async def shutdown(self) -> None:
        """The server is stopping: snapshot every running sandbox and mark it
        ``server-stopped`` (the next server resumes it), then close the database."""
        if self._reaper is not None:
            self._reaper.stop()
            self._reaper = None
        if self._disposals:
            await asyncio.gather(*self._disposals, return_exceptions=True)
        running = [r for r in self.records.values() if r.state is SandboxState.RUNNING]
        results = await asyncio.gather(
            *(self._stop(r, StopReason.SERVER_STOPPED, wait_for_requests=False)
              for r in running), return_exceptions=True)
        for record, result in zip(running, results, strict=True):
            if isinstance(result, BaseException):
                self.log.error("could not snapshot sandbox %s while the server stops (it will "
                               "resume from its last recovery point): %s", record.id, result)
                record.kernel_id, record.state = None, SandboxState.STOPPED
                record.stopped_at, record.stopped_reason = time.time(), StopReason.SERVER_LOST
                with contextlib.suppress(ServiceError):
                    self._persist(record)
        if self.store is not None:
            self.store.close()

    # -- kernels ------------------------------------------------------------------------
    def _check_usable(self, record: SandboxRecord) -> None:
        if record.deleted:
            raise ServiceError(404, f"sandbox {record.id} was deleted")
        if record.state is SandboxState.BROKEN:
            raise self._unusable(record)

    @staticmethod
    def _unusable(record: SandboxRecord) -> ServiceError:
        return ServiceError(409, f"sandbox {record.id} cannot be used: {record.error}",
                            "sandbox_unusable",
                            "Nothing was run. Delete the sandbox (DELETE "
                            f"sandboxes/{record.id}), or have an administrator restore its "
                            "files from a backup and restart the server.")

    def _running_kernel(self, record: SandboxRecord) -> str | None:
        kernel_id = record.kernel_id
        return kernel_id if kernel_id is not None and kernel_id in self.kernel_manager else None

    @contextlib.asynccontextmanager
    async def use(self, record: SandboxRecord) -> AsyncIterator[str]:
        """The running kernel of ``record`` (started again when it was stopped), kept from
        being stopped while the block runs."""
        record.busy += 1
        try:
            yield await self.ensure_running(record)
        finally:
            record.busy -= 1
            record.last_activity = time.time()

    async def ensure_running(self, record: SandboxRecord) -> str:
        async with record.lock:
            self._check_usable(record)
            kernel_id = self._running_kernel(record)
            if kernel_id is not None:
                return kernel_id
            if record.state is SandboxState.RUNNING and record.kernel_id is not None:
                self._kernel_lost(record)
            resume = record.folder / RESUME_FILE
            try:
                data: bytes | None = await asyncio.to_thread(resume.read_bytes)
            except FileNotFoundError:
                data = None
            except OSError as exc:
                self._mark_broken(record, f"its recovery point {resume} cannot be read ({exc})")
                raise self._unusable(record) from exc
            if data is None and record.checkpointed_at is not None:
                self._mark_broken(record, f"its recovery point {resume} is missing (it was "
                                          f"written at {time.ctime(record.checkpointed_at)})")
                raise self._unusable(record)
            kernel_id = await self._start_kernel(record)
            try:
                resumed = await self._restore(kernel_id, data)
                await self._reapply_network(record, kernel_id)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    await self.kernel_manager.shutdown_kernel(kernel_id, now=True)
                if isinstance(exc, ControlError) and exc.code == "bad_snapshot":
                    self._mark_broken(record, f"its recovery point {resume} cannot be used "
                                              f"({exc.message})")
                    raise self._unusable(record) from exc
                raise
            self._mark_started(record, kernel_id, resumed)
            return kernel_id

    def _mark_started(self, record: SandboxRecord, kernel_id: str, resumed: bool) -> None:
        """``record`` runs in ``kernel_id`` from now (its lifetime starts again); stored."""
        now = time.time()
        record.kernel_id, record.state = kernel_id, SandboxState.RUNNING
        record.started_at = record.last_activity = now
        record.stopped_at = record.stopped_reason = None
        record.expires_at = now + record.lifecycle.timeout if record.lifecycle.timeout > 0 else None
        if resumed:  # its recovery point is its state now
            record.checkpointed_at = now
        self._persist(record)

    async def _restore(self, kernel_id: str, data: bytes | None) -> bool:
        """Restore the recovery point into the new kernel (False: there is none). The kernel
        checks it first (format, hash, signature, limits) and refuses one it cannot use with
        a ``ControlError`` coded ``bad_snapshot``, its sandbox untouched."""
        if data is None:
            return False
        await self.control.request(kernel_id, "PUT", "/snapshot", data)
        return True

    async def set_network(self, record: SandboxRecord, policy: Any) -> dict[str, Any]:
        """Change the sandbox's network policy (``PUT /network`` of its kernel, which only
        lets it narrow the administrator's); kept in the record for the kernels it resumes
        in. The kernel's 400/403 (``ControlError``) is answered as it is."""
        if not isinstance(policy, dict):
            raise ServiceError(400, "\"network\" must be an object, e.g. {\"enabled\": true, "
                                    "\"allow\": [\"api.example.com:443\"]}",
                               "bad_network_policy")
        async with self.use(record) as kernel_id:
            answer: dict[str, Any] = await self.control.json(kernel_id, "PUT", "/network",
                                                             policy)
            record.network = policy
            self._persist(record)
        return answer

    async def _reapply_network(self, record: SandboxRecord, kernel_id: str) -> None:
        """Give a (re)started kernel the sandbox's API network policy. One the kernel refuses
        now (the administrator narrowed the configuration since) turns the network off for
        this kernel, never wider than asked, and is logged."""
        if record.network is None:
            return
        try:
            await self.control.json(kernel_id, "PUT", "/network", record.network)
        except ControlError as exc:
            if exc.status_code not in (400, 403):
                raise
            self.log.error("sandbox %s: its network policy is refused by the kernel now (%s); "
                           "its network is off until PUT .../network sets one again",
                           record.id, exc.message)
            await self.control.json(kernel_id, "PUT", "/network", {"enabled": False})

    async def _start_kernel(self, record: SandboxRecord) -> str:
        """A new kernel for ``record``, with its limits, running and reachable (the caller
        restores its recovery point into it)."""
        env = dict(os.environ)
        env.pop(START_SNAPSHOT_ENV, None)
        arguments = [*record.limits.kernel_arguments(), "--SandboxKernel.host_folder_mode=off",
                     f"--SandboxKernel.snapshot_dir={record.folder / 'snapshots'}"]
        kernel_id = await self.kernel_manager.start_kernel(
            kernel_name=KERNEL_NAME, env=env, extra_arguments=arguments)
        try:
            await self._wait_ready(kernel_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.kernel_manager.shutdown_kernel(kernel_id, now=True)
            raise
        return kernel_id

    async def _wait_ready(self, kernel_id: str) -> None:
        """Until the kernel's control socket exists (its sandbox is then running)."""
        deadline = time.monotonic() + self.start_timeout
        kernel = self.kernel_manager.get_kernel(kernel_id)
        while self.control.socket_for(kernel_id) is None:
            if not await kernel.is_alive():
                raise ServiceError(502, "the sandbox's kernel exited while starting; see the "
                                   "server's log")
            if time.monotonic() > deadline:
                raise ServiceError(504, f"the sandbox's kernel did not start within "
                                   f"{self.start_timeout:g} s")
            await asyncio.sleep(0.02)

    def _mark_broken(self, record: SandboxRecord, why: str) -> None:
        """The sandbox cannot be used any more in this server run (not stored: the next
        server tries again, e.g. once an administrator restored its files)."""
        self.log.error("sandbox %s cannot be used: %s", record.id, why)
        record.kernel_id, record.state, record.error = None, SandboxState.BROKEN, why

    def _kernel_lost(self, record: SandboxRecord) -> None:
        """Its kernel went away outside the service (shut down from JupyterLab, died): it is
        stopped, and resumes from its last recovery point."""
        self.log.warning("the kernel of sandbox %s went away; it resumes from its last "
                         "recovery point on its next use", record.id)
        record.kernel_id, record.state = None, SandboxState.STOPPED
        record.stopped_at, record.stopped_reason = time.time(), StopReason.KILLED
        self._persist(record)

    # -- recovery points ----------------------------------------------------------------
    async def _write_recovery_point(self, record: SandboxRecord, kernel_id: str,
                                    timeout: float | None = None) -> None:
        """The sandbox's whole state into its ``resume.snap``, atomically (lock held)."""
        answer = await self.control.request(kernel_id, "GET", "/snapshot", timeout=timeout)
        await asyncio.to_thread(atomic_write, record.folder / RESUME_FILE, bytes(answer.body),
                                0o600)
        record.checkpointed_at = time.time()

    async def checkpoint(self, record: SandboxRecord) -> None:
        """Write a recovery point of the running sandbox now (after the files or packages API
        changed it, so the change survives the server being killed)."""
        async with record.lock:
            kernel_id = self._running_kernel(record)
            if kernel_id is None or record.deleted:
                return
            try:
                await self._write_recovery_point(record, kernel_id)
            except (ControlError, OSError) as exc:
                self.log.error("could not write the recovery point of sandbox %s: %s",
                               record.id, exc)
                raise ServiceError(503, f"the change was made in sandbox {record.id}, but its "
                                        f"recovery point could not be saved ({exc}): the "
                                        "change is lost if the server is killed before the "
                                        "next one", "checkpoint_failed",
                                   "Check the disk of the Jupyter data dir.") from exc
            self._persist(record)

    # -- timers ---------------------------------------------------------------------------
    def _last_activity(self, record: SandboxRecord) -> float:
        """When the sandbox was last used, through the service or a notebook's kernel
        messages (wall clock)."""
        last = record.last_activity
        kernel_id = self._running_kernel(record)
        if kernel_id is not None:
            kernel_activity = self.kernel_manager.get_kernel(kernel_id).last_activity
            if kernel_activity is not None:
                last = max(last, kernel_activity.timestamp())
        return last

    def _due(self, record: SandboxRecord, now: float) -> tuple[str, StopReason | None] | None:
        """What the reaper must do with ``record`` now: ("delete"|"stop", reason),
        ("checkpoint", None), or None."""
        lifecycle = record.lifecycle
        if record.busy or record.deleted:
            return None
        expired = record.expires_at is not None and now >= record.expires_at
        if record.state is SandboxState.STOPPED:
            return ("delete", StopReason.TIMEOUT) if (
                expired and lifecycle.on_timeout is OnTimeout.DELETE) else None
        if record.state is not SandboxState.RUNNING:
            return None
        action = "delete" if lifecycle.on_timeout is OnTimeout.DELETE else "stop"
        if expired:
            return action, StopReason.TIMEOUT
        idle = now - self._last_activity(record)
        if lifecycle.idle_timeout > 0 and idle >= lifecycle.idle_timeout:
            return action, StopReason.IDLE
        if (self.checkpoint_idle_seconds > 0 and idle >= self.checkpoint_idle_seconds
                and self._last_activity(record) > (record.checkpointed_at or 0.0)):
            return "checkpoint", None
        return None

    async def tick(self) -> None:
        """One look at every sandbox's timers (the reaper's periodic callback)."""
        now = time.time()
        jobs = []
        for record in list(self.records.values()):
            if (record.state is SandboxState.RUNNING and record.kernel_id is not None
                    and self._running_kernel(record) is None and not record.lock.locked()):
                with contextlib.suppress(ServiceError):
                    self._kernel_lost(record)
                continue
            due = self._due(record, now)
            if due is not None:
                jobs.append(self._act(record, *due))
        if jobs:
            await asyncio.gather(*jobs)

    async def _act(self, record: SandboxRecord, action: str, reason: StopReason | None) -> None:
        try:
            if reason is StopReason.IDLE and await self._processes_running(record):
                # Stopping would kill its background processes (a snapshot does not carry
                # them): a sandbox running one is in use, and its idle time starts over.
                record.last_activity = time.time()
                return
            if action == "delete":
                self.log.info("sandbox %s: %s, deleted (on_timeout: delete)", record.id,
                              "its timeout passed" if reason is StopReason.TIMEOUT
                              else "idle for its idle_timeout")
                await self.delete(record)
            elif action == "stop" and reason is not None:
                await self._stop(record, reason)
            else:
                async with record.lock:
                    kernel_id = self._running_kernel(record)
                    if kernel_id is not None and not record.busy and not record.deleted:
                        await self._write_recovery_point(record, kernel_id)
                        self._persist(record)
        except (ControlError, OSError, ServiceError, sqlite3.Error) as exc:
            self.log.warning("sandbox %s: could not %s it: %s", record.id, action, exc)

    async def _processes_running(self, record: SandboxRecord) -> bool:
        """Whether the sandbox's kernel reports running processes (GET /status); False when
        it cannot say (the idle stop then goes ahead, as before processes existed)."""
        kernel_id = self._running_kernel(record)
        if kernel_id is None:
            return False
        try:
            status = await self.control.json(kernel_id, "GET", "/status")
        except (ControlError, OSError, ValueError) as exc:
            self.log.warning("sandbox %s: could not ask its kernel for running processes: %s",
                             record.id, exc)
            return False
        return isinstance(status, dict) and bool(status.get("processes"))

    async def _stop(self, record: SandboxRecord, reason: StopReason, *,
                    wait_for_requests: bool = True) -> None:
        """Snapshot the sandbox into its recovery point, shut its kernel down, record why."""
        async with record.lock:
            if ((wait_for_requests and record.busy) or record.deleted
                    or record.state is not SandboxState.RUNNING):
                return
            kernel_id = self._running_kernel(record)
            if kernel_id is not None:
                await self._write_recovery_point(
                    record, kernel_id,
                    None if wait_for_requests else SHUTDOWN_SNAPSHOT_TIMEOUT)
                await self.kernel_manager.shutdown_kernel(kernel_id)
            record.kernel_id, record.state = None, SandboxState.STOPPED
            record.stopped_at, record.stopped_reason = time.time(), reason
            self._persist(record)
            self.log.info("sandbox %s: snapshotted and stopped (%s)", record.id, reason.value)
