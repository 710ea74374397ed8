"""The sandbox service's warm pool: ``sandboxed-python`` kernels started before anyone asks,
so ``POST /sandboxes`` hands one over instead of waiting for a kernel process to start.

Pooled kernels start with the service's maximum limits (``sandbox_memory_mib`` ...), no host
folder, and the named-snapshot folder of the sandbox each will become (its id is chosen when
the kernel starts). Taking one is synchronous (``take``), so concurrent creates never get the
same kernel; the hand-over (``POST /handover`` on its control socket) then lowers the limits to
the request's. A kernel that fails its hand-over is shut down and the request falls back to a
normal start, as does a request that finds the pool empty (a miss).

The pool refills in the background — at most ``START_CONCURRENCY`` kernels starting at once,
never more idle-or-starting kernels than ``size`` nor more than the memory budget holds (each
kernel counted at the largest resident size measured of an idle pooled kernel, or
``DEFAULT_KERNEL_MIB`` before one was measured) — so a request never waits for a refill.
Pooled kernels are kernels of the server's kernel manager (``/api/kernels`` lists them), but
no sandbox until handed over; ``shutdown`` stops the idle and starting ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import statistics
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from jupyter_sandbox.kernel.control_protocol import (
    SNAPSHOT_SUFFIX,
    START_SNAPSHOT_ENV,
    HandoverLimits,
    HandoverRequest,
)

from ..control_client import ControlClient, ControlError
from .errors import ServiceError

KERNEL_NAME = "sandboxed-python"
#: What ``uuid4().hex`` sandbox ids look like (the registry's rule too).
SANDBOX_ID = re.compile(r"[0-9a-f]{32}\Z")
MiB = 1 << 20
#: Pooled kernels started at once (kernel start is CPU-bound; more would slow every one).
START_CONCURRENCY = 2
#: What one idle pooled kernel is assumed to take before one has been measured.
DEFAULT_KERNEL_MIB = 256
#: Hand-over latencies kept for the median.
LATENCY_WINDOW = 200


class PoolStats(TypedDict):
    """``GET sandbox/api/v1/pool``."""

    size: int
    memory_budget_mib: int
    idle: int
    starting: int
    in_use: int
    hits: int
    misses: int
    failures: int
    handover_p50_ms: float | None
    kernel_rss_mib: float | None


@dataclass(frozen=True)
class PooledKernel:
    """An idle pooled kernel: the sandbox id and folder it becomes at hand-over."""

    kernel_id: str
    sandbox_id: str
    folder: Path
    ready_at: float = field(default_factory=time.monotonic)


class KernelPool:
    """Pre-started kernels for the sandbox service. ``start()`` begins filling it,
    ``shutdown()`` (idempotent) stops its kernels."""

    def __init__(self, kernel_manager: Any, control: ControlClient, folder: Path, *,
                 size: int, memory_budget_mib: int, kernel_arguments: list[str],
                 start_timeout: float, log: logging.Logger) -> None:
        self.kernel_manager = kernel_manager
        self.control = control
        self.folder = folder
        self.size = max(0, size)
        self.memory_budget_mib = max(0, memory_budget_mib)
        self.kernel_arguments = kernel_arguments
        self.start_timeout = start_timeout
        self.log = log
        self.idle: deque[PooledKernel] = deque()
        self.starting = 0
        #: Kernels handed over, kept to count those still running (``in_use``).
        self.handed_over: set[str] = set()
        self.hits = 0
        self.misses = 0
        self.failures = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.kernel_rss: int | None = None
        self._wake = asyncio.Event()
        self._refiller: asyncio.Task[None] | None = None
        self._starts: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- filling --------------------------------------------------------------------------
    def start(self) -> None:
        """Begin filling the pool (on the server's running event loop)."""
        if self.size > 0 and self._refiller is None:
            self._refiller = asyncio.get_running_loop().create_task(self._refill())

    def wanted(self) -> int:
        """How many more kernels to start now (size, memory budget, concurrency)."""
        target = self.size
        if self.memory_budget_mib > 0:
            per_kernel = (self.kernel_rss or DEFAULT_KERNEL_MIB * MiB) / MiB
            target = min(target, int(self.memory_budget_mib // max(per_kernel, 1)))
        room = target - len(self.idle) - self.starting
        return max(0, min(room, START_CONCURRENCY - self.starting))

    async def _refill(self) -> None:
        while not self._closed:
            for _ in range(self.wanted()):
                self.starting += 1
                task = asyncio.get_running_loop().create_task(self._start_one())
                self._starts.add(task)
                task.add_done_callback(self._starts.discard)
            self._wake.clear()
            await self._wake.wait()

    async def _start_one(self) -> None:
        sandbox_id = uuid.uuid4().hex
        folder = self.folder / sandbox_id
        try:
            folder.mkdir(parents=True)
            kernel_id = await self._start_kernel(folder)
        except Exception as exc:  # noqa: BLE001 - logged; the pool tries again later
            self.failures += 1
            self.log.warning("jupyter_sandbox: a pooled kernel failed to start: %s", exc)
            shutil.rmtree(folder, ignore_errors=True)
            await asyncio.sleep(min(30.0, 1.0 * self.failures))  # no tight loop of failures
            return
        finally:
            self.starting -= 1
            self._wake.set()
        if self._closed:  # the server stopped while it started
            await self._discard(kernel_id, folder)
            return
        self.kernel_rss = max(self.kernel_rss or 0, self._rss(kernel_id) or 0) or None
        self.idle.append(PooledKernel(kernel_id, sandbox_id, folder))

    async def _start_kernel(self, folder: Path) -> str:
        env = dict(os.environ)
        env.pop(START_SNAPSHOT_ENV, None)
        arguments = [*self.kernel_arguments, "--SandboxKernel.host_folder_mode=off",
                     f"--SandboxKernel.snapshot_dir={folder / 'snapshots'}"]
        kernel_id: str = await self.kernel_manager.start_kernel(
            kernel_name=KERNEL_NAME, env=env, extra_arguments=arguments)
        try:
            deadline = time.monotonic() + self.start_timeout
            kernel = self.kernel_manager.get_kernel(kernel_id)
            while self.control.socket_for(kernel_id) is None:
                if not await kernel.is_alive():
                    raise ServiceError(502, "a pooled kernel exited while starting")
                if time.monotonic() > deadline or self._closed:
                    raise ServiceError(504, f"a pooled kernel did not start within "
                                       f"{self.start_timeout:g} s")
                await asyncio.sleep(0.02)
        except BaseException:
            await self._discard(kernel_id, None)
            raise
        return kernel_id

    def _rss(self, kernel_id: str) -> int | None:
        """The kernel process's resident memory in bytes (Linux /proc), None if unknown."""
        try:
            pid = self.kernel_manager.get_kernel(kernel_id).provisioner.pid
            with open(f"/proc/{int(pid)}/statm", encoding="ascii") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, KeyError, OSError, TypeError, ValueError) as exc:
            self.log.debug("jupyter_sandbox: no resident size for pooled kernel %s: %s",
                           kernel_id, exc)
            return None

    def remove_orphans(self, sandbox_ids: set[str]) -> list[str]:
        """Remove the folders pooled kernels of an earlier server left (one killed before it
        could stop them): a sandbox-id folder no record names and holding no snapshot. Call
        only once the registry's records are loaded. Returns the removed ids."""
        removed = []
        for folder in self.folder.iterdir() if self.folder.is_dir() else []:
            if (folder.name in sandbox_ids or not SANDBOX_ID.match(folder.name)
                    or not folder.is_dir() or folder.is_symlink()
                    or any(folder.rglob("*" + SNAPSHOT_SUFFIX))):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
        if removed:
            self.log.info("jupyter_sandbox: removed %d folders of pooled kernels an earlier "
                          "server left", len(removed))
        return removed

    # -- taking ---------------------------------------------------------------------------
    def take(self) -> PooledKernel | None:
        """An idle kernel for a new sandbox, or None (a miss: start one normally). Never
        waits; the pool refills behind it."""
        while self.idle:
            pooled = self.idle.popleft()
            if pooled.kernel_id in self.kernel_manager:
                self.hits += 1
                self._wake.set()
                return pooled
            shutil.rmtree(pooled.folder, ignore_errors=True)  # culled or died while idle
        if self.size > 0:
            self.misses += 1
        self._wake.set()
        return None

    async def hand_over(self, pooled: PooledKernel, limits: dict[str, Any],
                        metadata: dict[str, Any], snapshot: bytes | None = None) -> bool:
        """Give ``pooled`` the request's limits (``SandboxLimits.to_json()``) and metadata
        (``POST /handover``), then its
        start snapshot if any (``PUT /snapshot``). False when that failed: the kernel is shut
        down and its folder kept, for a normal start of the same sandbox."""
        began = time.monotonic()
        wanted: HandoverLimits = {"memory_mib": limits["memory_mib"],
                                  "workspace_mib": limits["workspace_mib"],
                                  "cell_timeout": limits["cell_timeout"]}
        request: HandoverRequest = {"limits": wanted, "metadata": metadata,
                                    "host_folder": None, "host_folder_mode": "overlay"}
        try:
            await self.control.json(pooled.kernel_id, "POST", "/handover", request)
            self.latencies.append(time.monotonic() - began)
            if snapshot is not None:
                await self.control.request(pooled.kernel_id, "PUT", "/snapshot", snapshot)
        except (ControlError, OSError) as exc:
            self.log.warning("jupyter_sandbox: pooled kernel %s failed its hand-over (%s); "
                             "starting the sandbox normally", pooled.kernel_id, exc)
            self.hits -= 1
            self.misses += 1
            await self._discard(pooled.kernel_id, None)
            return False
        self.handed_over.add(pooled.kernel_id)
        return True

    # -- statistics and shutdown ----------------------------------------------------------
    def stats(self) -> PoolStats:
        self.handed_over &= {k for k in self.handed_over if k in self.kernel_manager}
        p50 = statistics.median(self.latencies) * 1000 if self.latencies else None
        return {"size": self.size, "memory_budget_mib": self.memory_budget_mib,
                "idle": len(self.idle), "starting": self.starting,
                "in_use": len(self.handed_over), "hits": self.hits, "misses": self.misses,
                "failures": self.failures,
                "handover_p50_ms": None if p50 is None else round(p50, 2),
                "kernel_rss_mib": None if self.kernel_rss is None
                else round(self.kernel_rss / MiB, 1)}

    async def _discard(self, kernel_id: str, folder: Path | None) -> None:
        with contextlib.suppress(KeyError):
            if kernel_id in self.kernel_manager:
                try:
                    await self.kernel_manager.shutdown_kernel(kernel_id, now=True)
                except (OSError, RuntimeError) as exc:
                    self.log.warning("jupyter_sandbox: could not stop pooled kernel %s: %s",
                                     kernel_id, exc)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    async def shutdown(self) -> None:
        """Stop the refill and every idle or starting pooled kernel (not handed-over ones:
        they are sandboxes now). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._refiller is not None:
            self._refiller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refiller
        if self._starts:
            await asyncio.gather(*list(self._starts), return_exceptions=True)
        idle, self.idle = list(self.idle), deque()
        await asyncio.gather(*(self._discard(p.kernel_id, p.folder) for p in idle),
                             return_exceptions=True)
