"""The sandboxes of the sandbox service: each one a ``sandboxed-python`` kernel started through
the server's kernel manager (so JupyterLab lists it), with a stable id of its own.

A sandbox left idle for ``idle_timeout`` seconds is snapshotted to its folder and its kernel
shut down; the next request that needs it starts a kernel from that snapshot. Kernels get their
limits as ``--SandboxKernel.*`` arguments and their start snapshot through
``JUPYTER_SANDBOX_SNAPSHOT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from tornado.ioloop import PeriodicCallback

from jupyter_sandbox.kernel.control_protocol import SNAPSHOT_SUFFIX as SUFFIX
from jupyter_sandbox.kernel.control_protocol import (
    START_SNAPSHOT_ENV,
    invalid_name_message,
    is_snapshot_name,
)

from ..control_client import ControlClient, ControlError
from .errors import ServiceError

KERNEL_NAME = "sandboxed-python"
RESUME_FILE = "resume" + SUFFIX


class SandboxState(str, Enum):
    RUNNING = "running"
    #: Snapshotted and stopped after being idle; starts again on the next request.
    IDLE_STOPPED = "stopped"


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


@dataclass
class SandboxRecord:
    id: str
    limits: SandboxLimits
    metadata: dict[str, Any]
    folder: Path
    created: float = field(default_factory=time.time)
    kernel_id: str | None = None
    state: SandboxState = SandboxState.RUNNING
    last_activity: float = field(default_factory=time.monotonic)
    #: Requests using the sandbox right now (it is never stopped while one runs).
    busy: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kernel_id": self.kernel_id, "state": self.state.value,
                "created": self.created, "limits": self.limits.to_json(),
                "metadata": self.metadata}


class SandboxRegistry:
    def __init__(self, kernel_manager: Any, control: ControlClient, folder: Path, *,
                 max_sandboxes: int, idle_timeout: float, limits: SandboxLimits,
                 start_timeout: float, log: logging.Logger) -> None:
        self.kernel_manager = kernel_manager
        self.control = control
        self.folder = folder
        self.max_sandboxes = max_sandboxes
        self.idle_timeout = idle_timeout
        self.limits = limits
        self.start_timeout = start_timeout
        self.log = log
        self.records: dict[str, SandboxRecord] = {}
        self._starting = 0
        self._reaper: PeriodicCallback | None = None

    # -- life cycle ---------------------------------------------------------------------
    def start_reaper(self) -> None:
        if self.idle_timeout > 0:
            interval = min(max(self.idle_timeout / 4, 0.25), 30.0)
            self._reaper = PeriodicCallback(self.stop_idle, interval * 1000)
            self._reaper.start()

    def get(self, sandbox_id: str) -> SandboxRecord:
        record = self.records.get(sandbox_id)
        if record is None:
            raise ServiceError(404, f"no sandbox with id {sandbox_id!r}")
        return record

    async def create(self, limits: Any = None, metadata: Any = None,
                     snapshot: bytes | None = None) -> SandboxRecord:
        chosen = self.limits.within(limits)
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise ServiceError(400, "\"metadata\" must be an object")
        if len(self.records) + self._starting >= self.max_sandboxes:
            raise ServiceError(429, f"this server already runs its maximum of "
                               f"{self.max_sandboxes} sandboxes; delete one and try again")
        self._starting += 1
        sandbox_id = uuid.uuid4().hex
        record = SandboxRecord(sandbox_id, chosen, metadata, self.folder / sandbox_id)
        try:
            record.folder.mkdir(parents=True)
            if snapshot is not None:
                (record.folder / RESUME_FILE).write_bytes(snapshot)
            await self.ensure_running(record)
        except BaseException:
            shutil.rmtree(record.folder, ignore_errors=True)
            raise
        finally:
            self._starting -= 1
        self.records[sandbox_id] = record
        return record

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

    async def delete(self, record: SandboxRecord) -> None:
        self.records.pop(record.id, None)
        record.deleted = True
        async with record.lock:
            if record.kernel_id is not None and record.kernel_id in self.kernel_manager:
                with contextlib.suppress(KeyError):
                    await self.kernel_manager.shutdown_kernel(record.kernel_id)
            record.kernel_id = None
        shutil.rmtree(record.folder, ignore_errors=True)

    async def shutdown(self) -> None:
        if self._reaper is not None:
            self._reaper.stop()
            self._reaper = None

    # -- kernels ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def use(self, record: SandboxRecord) -> AsyncIterator[str]:
        """The running kernel of ``record`` (started again when it was stopped), kept from
        being stopped while the block runs."""
        record.busy += 1
        try:
            yield await self.ensure_running(record)
        finally:
            record.busy -= 1
            record.last_activity = time.monotonic()

    async def ensure_running(self, record: SandboxRecord) -> str:
        async with record.lock:
            if record.deleted:
                raise ServiceError(404, f"sandbox {record.id} was deleted")
            if record.kernel_id is not None and record.kernel_id in self.kernel_manager:
                return record.kernel_id
            resume = record.folder / RESUME_FILE
            record.kernel_id = await self._start_kernel(record, resume if resume.exists() else None)
            resume.unlink(missing_ok=True)
            record.state = SandboxState.RUNNING
            record.last_activity = time.monotonic()
            return record.kernel_id

    async def _start_kernel(self, record: SandboxRecord, snapshot: Path | None) -> str:
        env = dict(os.environ)
        env.pop(START_SNAPSHOT_ENV, None)
        if snapshot is not None:
            env[START_SNAPSHOT_ENV] = str(snapshot)
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

    # -- idle sandboxes -----------------------------------------------------------------
    def _idle_since(self, record: SandboxRecord) -> float:
        """Seconds since the sandbox was last used, through the service or a notebook."""
        last = time.monotonic() - record.last_activity
        if record.kernel_id in self.kernel_manager:
            kernel_activity = self.kernel_manager.get_kernel(record.kernel_id).last_activity
            if kernel_activity is not None:
                last = min(last, (datetime.now(UTC) - kernel_activity).total_seconds())
        return last

    async def stop_idle(self) -> None:
        for record in list(self.records.values()):
            if (record.state is SandboxState.RUNNING and not record.busy
                    and self._idle_since(record) >= self.idle_timeout):
                try:
                    await self._stop(record)
                except (ControlError, OSError) as exc:
                    self.log.warning("could not stop idle sandbox %s: %s", record.id, exc)

    async def _stop(self, record: SandboxRecord) -> None:
        async with record.lock:
            if record.busy or record.kernel_id is None or record.deleted:
                return
            if record.kernel_id in self.kernel_manager:
                data = (await self.control.request(record.kernel_id, "GET", "/snapshot")).body
                temporary = record.folder / (RESUME_FILE + ".part")
                temporary.write_bytes(data)
                temporary.replace(record.folder / RESUME_FILE)
                await self.kernel_manager.shutdown_kernel(record.kernel_id)
            record.kernel_id = None
            record.state = SandboxState.IDLE_STOPPED
            self.log.info("sandbox %s was idle: snapshotted and stopped", record.id)
