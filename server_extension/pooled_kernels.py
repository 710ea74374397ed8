"""``PooledKernelManager``: notebooks get a pre-started Sandboxed Python kernel.

Starting a kernel process (Python, ipykernel, the sandbox from its base image) takes most of a
second or more; handing over a kernel that is already running takes a few milliseconds. This
kernel manager — jupyter_server's own ``AsyncMappingKernelManager`` (the default of
``ServerApp.kernel_manager_class``) with a pool — keeps ``prespawn`` Sandboxed Python kernels
started and idle. When a session asks for a kernel of ``pooled_kernel_name`` for a notebook, it
takes a waiting one, tells it its notebook over the kernel's control socket (``POST /handover``
with the folder jupyter_server would have started the kernel in and the notebook's path:
kernel/workspace_handover.py), registers it as if it had just been started, and starts a
replacement in the background. Enable it in ``jupyter_server_config.py``::

    c.ServerApp.kernel_manager_class = (
        "jupyter_sandbox.server_extension.pooled_kernels.PooledKernelManager")
    c.PooledKernelManager.prespawn = 1      # kernels kept waiting (0: no pool)

(or ``c.SandboxExtensionApp.notebook_kernel_pool = True``, which sets the same class unless
another kernel manager is configured).

What stays exactly as with a normal start:

* the kernel id is an ordinary uuid (the kernel's connection file was named after it when it
  was pre-started) and the kernel is listed in ``/api/kernels`` from its hand-over on; waiting
  kernels are not listed, not counted and never culled (the culler looks at listed kernels);
* restart: jupyter_client starts a new process with the launch arguments of the kernel; they
  are replaced at hand-over by those a normal start would have had (the notebook's folder as
  working directory, the session's environment), so a restarted kernel is a normal one;
* shutdown, interrupt, activity tracking and the websocket are jupyter_server's own code.

A normal start happens instead whenever a hand-over could differ from it: another kernel name,
an id chosen by the client, launch arguments beyond the path and environment, an environment
that differs from the one the waiting kernel got (beyond the notebook's name), a checkpoint
waiting to be restored into the notebook's next kernel (only a normal start reads it), an empty
pool, or a hand-over the kernel refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jupyter_server._tz import utcnow
from jupyter_server.gateway.gateway_client import GatewayClient
from jupyter_server.prometheus.metrics import KERNEL_CURRENTLY_RUNNING_TOTAL
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.utils import ApiPath
from tornado.ioloop import IOLoop
from traitlets import Float, Integer, Unicode
from traitlets.config import Config

from jupyter_sandbox.kernel.control_protocol import (
    AWAIT_FOLDER_ENV,
    SESSION_NAME_ENV,
    pending_restore_path,
    socket_path_for,
)

from .control_client import ControlClient, ControlError

if TYPE_CHECKING:
    from jupyter_sandbox.kernel.control_protocol import HandoverRequest

#: Environment variables a session's kernel may differ in from a waiting kernel's.
_PER_NOTEBOOK_ENV = frozenset({SESSION_NAME_ENV, AWAIT_FOLDER_ENV})


@dataclass
class PoolStats:
    """What the pool did: hand-overs (hits), normal starts of a notebook's pooled kernel
    (misses, by why), waiting kernels given up at a hand-over (discarded, by why), pre-starts
    done and failed, and how long each hand-over took."""

    hits: int = 0
    misses: int = 0
    miss_reasons: dict[str, int] = field(default_factory=dict)
    discarded: dict[str, int] = field(default_factory=dict)
    handover_seconds: list[float] = field(default_factory=list)
    started: int = 0
    failed: int = 0

    def miss(self, reason: str) -> None:
        self.misses += 1
        self.miss_reasons[reason] = self.miss_reasons.get(reason, 0) + 1

    def discard(self, reason: str) -> None:
        self.discarded[reason] = self.discarded.get(reason, 0) + 1


@dataclass
class _Waiting:
    """A pre-started kernel: its id (its connection file's name), its manager and the
    environment it was started with."""

    kernel_id: str
    manager: Any
    env: dict[str, str]


class _WaitingKernels:
    """The view of the pool the ``ControlClient`` resolves sockets through (it needs
    ``__contains__``, ``get_kernel`` and ``log``): only kernels not yet handed over."""

    def __init__(self, owner: PooledKernelManager) -> None:
        self.owner = owner

    @property
    def log(self) -> Any:
        return self.owner.log

    def __contains__(self, kernel_id: str) -> bool:
        return kernel_id in self.owner._pool_managers

    def get_kernel(self, kernel_id: str) -> Any:
        return self.owner._pool_managers[kernel_id]


class PooledKernelManager(AsyncMappingKernelManager):
    """jupyter_server's kernel manager with a pool of pre-started Sandboxed Python kernels
    for notebooks (see the module's docstring)."""

    prespawn = Integer(1, min=0, help="How many Sandboxed Python kernels to keep started and "
                       "waiting for the next notebook (0: no pool, every kernel starts "
                       "normally). Each waiting kernel holds a kernel process and its sandbox's "
                       "memory (about 100-200 MiB).").tag(config=True)
    pooled_kernel_name = Unicode("sandboxed-python", help="The kernelspec whose kernels are "
                                 "pre-started; it must be a Sandboxed Python kernel (its "
                                 "control socket takes the hand-over).").tag(config=True)
    pool_ready_timeout = Float(180.0, help="Seconds a pre-started kernel may take to answer "
                               "and serve its control socket before it is given up."
                               ).tag(config=True)
    handover_timeout = Float(30.0, help="Seconds a hand-over may take before the session's "
                             "kernel is started normally instead.").tag(config=True)
    refill_delay = Float(1.0, help="Seconds after a hand-over before the replacement kernel "
                         "is started, so its start does not compete for the CPU with the "
                         "notebook's first cells.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_stats = PoolStats()
        #: Waiting kernels, ready to hand over, oldest first.
        self._waiting: list[_Waiting] = []
        #: Every pre-started kernel not handed over yet (starting or waiting), by id.
        self._pool_managers: dict[str, Any] = {}
        self._refill_task: asyncio.Task[None] | None = None
        self._closing = False
        self._control: ControlClient | None = None
        #: The waiting kernels' working directory: empty and private, never a user's folder
        #: (made with the first pre-start, removed by ``shutdown_all``).
        self._pool_dir: str | None = None
        if self.prespawn:
            # Two loop turns after the server starts: its own start-up callbacks (the
            # extension publishing its URL into the environment kernels inherit) run first.
            loop = IOLoop.current()
            loop.add_callback(lambda: loop.add_callback(self._schedule_refill))

    # -- what the pool holds ------------------------------------------------------------
    def pool_status(self) -> dict[str, Any]:
        """Waiting and starting kernels, hits, misses and hand-over latency (seconds)."""
        stats = self.pool_stats
        times = stats.handover_seconds
        return {"prespawn": self.prespawn, "kernel_name": self.pooled_kernel_name,
                "waiting": len(self._waiting),
                "starting": len(self._pool_managers) - len(self._waiting),
                "hits": stats.hits, "misses": stats.misses,
                "miss_reasons": dict(stats.miss_reasons),
                "discarded": dict(stats.discarded), "started": stats.started,
                "failed": stats.failed,
                "handover_seconds": {"last": times[-1] if times else None,
                                     "median": statistics.median(times) if times else None}}

    def _client(self) -> ControlClient:
        if self._control is None:
            self._control = ControlClient(_WaitingKernels(self),
                                          startup_wait=self.pool_ready_timeout)
        return self._control

    # -- filling the pool ---------------------------------------------------------------
    def _schedule_refill(self, delay: float = 0.0) -> None:
        if self._closing or not self.prespawn:
            return
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.ensure_future(self._refill(delay))

    async def _refill(self, delay: float) -> None:
        """Start kernels one at a time until ``prespawn`` wait (one at a time: on a small
        machine parallel starts only slow each other and the notebooks in use)."""
        if delay:
            await asyncio.sleep(delay)
        while not self._closing and len(self._pool_managers) < self.prespawn:
            if not await self._prestart_one():
                return  # logged; the next hand-over or miss tries again

    async def _prestart_one(self) -> bool:
        kernel_id = self.new_kernel_id()
        env = {**os.environ, AWAIT_FOLDER_ENV: "1"}
        env.pop(SESSION_NAME_ENV, None)
        manager = None
        try:
            # as MultiKernelManager.pre_start_kernel makes one
            specs = {"kernel_spec_manager": self.kernel_spec_manager} \
                if self.kernel_spec_manager else {}
            manager = self.kernel_manager_factory(
                connection_file=os.path.join(self.connection_dir, f"kernel-{kernel_id}.json"),
                parent=self, log=self.log, kernel_name=self.pooled_kernel_name, **specs)
            self._pool_managers[kernel_id] = manager
            await manager.start_kernel(**self._kernel_start_kwargs(
                kernel_id=kernel_id, cwd=self._waiting_folder(), env=env))
            await asyncio.wait_for(self._until_warm(kernel_id, manager),
                                   self.pool_ready_timeout)
        except Exception as exc:  # noqa: BLE001 - a failed pre-start costs the pool, not a user
            self.pool_stats.failed += 1
            self.log.warning("jupyter_sandbox: pre-starting a %s kernel for the pool failed "
                             "(%s: %s); notebooks get normally started kernels until a later "
                             "pre-start works", self.pooled_kernel_name,
                             type(exc).__name__, exc)
            self._pool_managers.pop(kernel_id, None)
            if manager is not None:
                await self._discard(manager)
            return False
        if self._closing:
            self._pool_managers.pop(kernel_id, None)
            await self._discard(manager)
            return False
        self.pool_stats.started += 1
        self._waiting.append(_Waiting(kernel_id, manager, env))
        self.log.info("jupyter_sandbox: kernel %s waits in the pool for a notebook", kernel_id)
        return True

    def _waiting_folder(self) -> str:
        if self._pool_dir is None:
            self._pool_dir = tempfile.mkdtemp(prefix="jupyter-sandbox-pool-")
        return self._pool_dir

    async def _until_warm(self, kernel_id: str, manager: Any) -> None:
        """The kernel answers ``kernel_info`` and its sandbox serves the control socket."""
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=self.pool_ready_timeout)
        finally:
            client.stop_channels()
        await self._client().json(kernel_id, "GET", "/status")

    async def _discard(self, manager: Any, now: bool = True) -> None:
        """Stop a pre-started kernel. Its shutdown removes its connection file; a kernel
        stopped ``now`` (killed) leaves its control socket, removed here."""
        try:
            await manager.shutdown_kernel(now=now)
        except Exception as exc:  # noqa: BLE001 - shutting down what failed: log, go on
            self.log.warning("jupyter_sandbox: stopping a pooled kernel failed: %s", exc)
        with contextlib.suppress(FileNotFoundError):
            socket_path_for(manager.connection_file).unlink()

    # -- hand-over ------------------------------------------------------------------------
    def _why_not_pooled(self, kernel_id: str | None, path: str | None,
                        kwargs: dict[str, Any]) -> str | None:
        """Why this start must be a normal one, or None when a hand-over is equivalent."""
        name = kwargs.get("kernel_name") or self.default_kernel_name
        if not self.prespawn or name != self.pooled_kernel_name or path is None:
            return "not pooled"  # (no path: not a notebook's kernel, e.g. the service's)
        if kernel_id is not None:
            return "kernel id chosen by the client"
        if set(kwargs) - {"kernel_name", "env"}:
            return "other launch arguments"
        return None

    async def _async_start_kernel(self, *, kernel_id: str | None = None,
                                  path: ApiPath | None = None, **kwargs: Any) -> str:
        reason = self._why_not_pooled(kernel_id, path, kwargs)
        if reason is None and path is not None:
            handed = await self._hand_over(path, kwargs)
            if handed is not None:
                return handed
        elif reason is not None and reason != "not pooled":
            self.pool_stats.miss(reason)
        return await super()._async_start_kernel(kernel_id=kernel_id, path=path, **kwargs)

    start_kernel = _async_start_kernel  # type: ignore[assignment]

    async def _hand_over(self, path: str, kwargs: dict[str, Any]) -> str | None:
        """A waiting kernel handed over to the notebook at API ``path``, registered as
        started; None (with the miss counted) when the start must be a normal one."""
        env = dict(kwargs.get("env") or os.environ)
        cwd = self.cwd_for_path(path, env=env)
        notebook = env.get(SESSION_NAME_ENV)
        notebook_os_path = os.path.join(cwd, os.path.basename(notebook or "untitled"))
        if pending_restore_path(notebook_os_path).exists():
            self.pool_stats.miss("checkpoint to restore")
            return None
        began = time.monotonic()
        while self._waiting:
            waiting = self._waiting.pop(0)
            if _without(waiting.env) != _without(env):
                self.pool_stats.discard("environment changed")
                await self._drop(waiting)
                continue
            if await self._offer(waiting, cwd, notebook):
                break
        else:  # (every waiting kernel, if any, was discarded)
            self.pool_stats.miss("pool empty")
            self._schedule_refill()
            return None
        kernel_id, manager = waiting.kernel_id, waiting.manager
        self._pool_managers.pop(kernel_id, None)
        # what a normal start would have launched: a restart launches exactly this
        manager._launch_args = {"env": env, "cwd": cwd}
        self._register(kernel_id, manager)
        await self._finish_kernel_start(kernel_id)
        manager.execution_state = "idle"  # warm and idle since its pre-start
        self.pool_stats.hits += 1
        self.pool_stats.handover_seconds.append(time.monotonic() - began)
        self.log.info("jupyter_sandbox: kernel %s (pre-started) handed over to %s", kernel_id,
                      notebook or path)
        self._schedule_refill(self.refill_delay)
        return kernel_id

    async def _offer(self, waiting: _Waiting, cwd: str, notebook: str | None) -> bool:
        """Hand ``waiting`` over to the notebook in ``cwd``; False (the kernel discarded)
        when it is gone or refuses."""
        body: HandoverRequest = {"limits": {}, "metadata": {}, "host_folder": cwd,
                                 "host_folder_mode": None, "notebook_path": notebook}
        try:
            alive = await waiting.manager.is_alive()
            if alive:
                await asyncio.wait_for(
                    self._client().json(waiting.kernel_id, "POST", "/handover", body),
                    self.handover_timeout)
                return True
            reason = "kernel gone"
        except (TimeoutError, ControlError, OSError) as exc:
            self.log.warning("jupyter_sandbox: the pooled kernel %s refused the hand-over "
                             "(%s); trying another or starting one", waiting.kernel_id, exc)
            reason = "hand-over refused"
        self.pool_stats.discard(reason)
        await self._drop(waiting)
        return False

    async def _drop(self, waiting: _Waiting) -> None:
        self._pool_managers.pop(waiting.kernel_id, None)
        await self._discard(waiting.manager)

    def _register(self, kernel_id: str, manager: Any) -> None:
        """What ``MappingKernelManager._async_start_kernel`` records for a kernel it started."""
        self._kernels[kernel_id] = manager
        self._kernel_connections[kernel_id] = 0
        manager.execution_state = "starting"
        manager.reason = ""
        manager.last_activity = utcnow()
        KERNEL_CURRENTLY_RUNNING_TOTAL.labels(type=manager.kernel_name).inc()
        if not self._initialized_culler:
            self.initialize_culler()

    # -- stopping -------------------------------------------------------------------------
    def __bool__(self) -> bool:
        """Always true. A ``MultiKernelManager`` is as true as it is long (its listed
        kernels), and ``ServerApp.cleanup_kernels`` skips ``shutdown_all`` for a false one:
        with only waiting kernels, the server would exit without stopping them."""
        return True

    async def _async_shutdown_all(self, now: bool = False) -> None:
        """The server stops: the waiting kernels too, then every handed-over one."""
        self._closing = True
        if self._refill_task is not None and not self._refill_task.done():
            self._refill_task.cancel()
        waiting = list(self._pool_managers.values())
        self._pool_managers.clear()
        self._waiting.clear()
        await asyncio.gather(*(self._discard(manager, now) for manager in waiting))
        if self._control is not None:
            self._control.close()
        if self._pool_dir is not None:
            shutil.rmtree(self._pool_dir, ignore_errors=True)
        await super()._async_shutdown_all(now=now)

    shutdown_all = _async_shutdown_all  # type: ignore[assignment]


def use_pooled_kernel_manager(serverapp: Any, log: Any) -> None:
    """Make ``PooledKernelManager`` the server's kernel manager, as
    ``c.ServerApp.kernel_manager_class`` would, unless the administrator chose one (or a
    gateway serves the kernels): that choice wins, and is logged. Called while the extension
    is linked, before the server makes its kernel manager."""
    chosen = "ServerApp" in serverapp.config and \
        "kernel_manager_class" in serverapp.config["ServerApp"]
    if chosen or GatewayClient.instance(parent=serverapp).gateway_enabled:
        log.info("jupyter_sandbox: the server's kernel manager is configured; notebooks get "
                 "no pre-started kernels from SandboxExtensionApp.notebook_kernel_pool")
        return
    name = f"{PooledKernelManager.__module__}.{PooledKernelManager.__qualname__}"
    serverapp.update_config(Config({"ServerApp": {"kernel_manager_class": name}}))


def _without(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key not in _PER_NOTEBOOK_ENV}


__all__ = ["PoolStats", "PooledKernelManager", "use_pooled_kernel_manager"]
