"""The sandbox service's settings, as traitlets of ``SandboxExtensionApp`` (this class is one
of its bases), e.g. ``c.SandboxExtensionApp.max_sandboxes = 8`` in ``jupyter_server_config.py``.
``initialize_service`` prepares what the handlers of ``service/`` find in their settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from tornado.ioloop import IOLoop
from traitlets import Enum as TraitEnum
from traitlets import Float, Int, Unicode
from traitlets.config import Configurable

from .lifecycle import LifecyclePolicy, OnTimeout
from .pool import KernelPool
from .registry import SandboxLimits, SandboxRegistry
from .routes import ROUTES
from .store import DATABASE_NAME, RegistryStore, RegistryStoreError
from .template_store import TemplateStore

MiB = 1 << 20


class SandboxServiceConfig(Configurable):
    max_sandboxes = Int(16, help="Sandboxes the service keeps at once (running or stopped while "
                        "idle); creating more is answered 429.").tag(config=True)
    idle_timeout = Float(900.0, help="Seconds a service sandbox may stay unused before it is "
                         "snapshotted and its kernel stopped; it starts again from the snapshot "
                         "on its next use. 0: never. The default of a sandbox's "
                         "idle_timeout (a create request may choose another).").tag(config=True)
    max_idle_timeout = Float(0.0, help="Largest idle_timeout a create request may choose, in "
                             "seconds (0: no maximum; else 0, never, is refused).").tag(
                                 config=True)
    sandbox_timeout = Float(0.0, help="Default lifetime of a service sandbox, in seconds from "
                            "its start, resume or last keep_alive (0: none); then on_timeout "
                            "applies.").tag(config=True)
    max_sandbox_timeout = Float(0.0, help="Largest timeout a create or keep_alive request may "
                                "choose, in seconds (0: no maximum; else 0, none, is "
                                "refused).").tag(config=True)
    on_timeout = TraitEnum([o.value for o in OnTimeout], default_value=OnTimeout.STOP.value,
                           help="Default on_timeout of a service sandbox: 'stop' (snapshot it "
                           "and stop its kernel; the next request resumes it) or 'delete', "
                           "when its timeout or idle_timeout passes.").tag(config=True)
    checkpoint_idle_seconds = Float(5.0, help="Seconds a running service sandbox must be idle "
                                    "after being used before its state is written to disk as "
                                    "its recovery point (what it resumes from if the server is "
                                    "killed). 0: only at idle stops, server stops and changes "
                                    "through the files and packages API.").tag(config=True)
    sandbox_memory_mib = Int(1024, help="Memory of a service sandbox, in MiB (default and "
                             "maximum: requests may ask for less).").tag(config=True)
    sandbox_workspace_mib = Int(512, help="Bytes a service sandbox may write, in MiB (default "
                                "and maximum).").tag(config=True)
    sandbox_cell_timeout = Float(0.0, help="Seconds one exec may run in a service sandbox (0: "
                                 "no limit; else default and maximum).").tag(config=True)
    max_upload_mib = Float(256.0, help="Largest file the service accepts in one upload, in "
                           "MiB.").tag(config=True)
    sandbox_start_timeout = Float(120.0, help="Seconds a service sandbox's kernel may take to "
                                  "start.").tag(config=True)
    pool_size = Int(0, help="Sandboxed Python kernels the service keeps started and idle, so "
                    "creating a sandbox takes one (its limits lowered to the request's) "
                    "instead of starting a kernel; refilled in the background. 0: no "
                    "pool.").tag(config=True)
    pool_memory_budget_mib = Int(4096, help="Memory the idle pooled kernels may take "
                                 "together, in MiB (each counted at the largest resident size "
                                 "measured of one); the pool keeps fewer than pool_size when "
                                 "they would not fit. 0: no budget.").tag(config=True)
    service_state_dir = Unicode("", help="Where the sandbox service keeps its database of "
                                "sandboxes (service.sqlite3) and each sandbox's recovery point "
                                "and named snapshots; default: Jupyter's data dir, "
                                "sandbox/service.").tag(config=True)

    def _open_store(self, path: Path) -> tuple[RegistryStore | None, str | None]:
        """The service's database, or why it cannot be used (the service then answers 503;
        the rest of the server works)."""
        try:
            return RegistryStore(path), None
        except RegistryStoreError as exc:
            self.log.error("%s", exc)  # type: ignore[attr-defined]
            return None, str(exc)

    def initialize_service(self) -> None:
        settings: dict[str, Any] = self.settings  # type: ignore[attr-defined]
        server = self.serverapp  # type: ignore[attr-defined]
        folder = Path(self.service_state_dir or Path(jupyter_data_dir()) / "sandbox" / "service")
        folder.mkdir(parents=True, exist_ok=True)
        limits = SandboxLimits(self.sandbox_memory_mib, self.sandbox_workspace_mib,
                               self.sandbox_cell_timeout)
        lifecycle = LifecyclePolicy.of(self.sandbox_timeout, self.idle_timeout, self.on_timeout,
                                       self.max_sandbox_timeout, self.max_idle_timeout)
        store, unavailable = self._open_store(folder / DATABASE_NAME)
        registry = SandboxRegistry(
            server.kernel_manager, settings["jupyter_sandbox_control"], folder,
            max_sandboxes=self.max_sandboxes, lifecycle=lifecycle, limits=limits,
            start_timeout=self.sandbox_start_timeout, log=self.log,  # type: ignore[attr-defined]
            store=store, checkpoint_idle_seconds=self.checkpoint_idle_seconds,
            unavailable=unavailable)
        try:
            registry.load()
        except RegistryStoreError as exc:
            registry.unavailable = str(exc)
            self.log.error("%s", exc)  # type: ignore[attr-defined]
        registry.start_reaper()
        pool = KernelPool(server.kernel_manager, settings["jupyter_sandbox_control"], folder,
                          size=self.pool_size, memory_budget_mib=self.pool_memory_budget_mib,
                          kernel_arguments=limits.kernel_arguments(),
                          start_timeout=self.sandbox_start_timeout,
                          log=self.log)  # type: ignore[attr-defined]
        registry.pool = pool
        if registry.unavailable is None:  # its records are known: the rest are leftovers
            pool.remove_orphans(set(registry.records))
        IOLoop.current().add_callback(pool.start)  # once the server's loop runs
        settings["jupyter_sandbox_service"] = registry
        settings["jupyter_sandbox_pool"] = pool
        settings["jupyter_sandbox_templates"] = TemplateStore(folder / "templates")
        settings["jupyter_sandbox_max_upload"] = int(self.max_upload_mib * MiB)

    async def stop_service(self) -> None:
        """Stop the warm pool's idle kernels and the idle reaper (the server is stopping)."""
        pool: KernelPool | None = self.settings.get(  # type: ignore[attr-defined]
            "jupyter_sandbox_pool")
        if pool is not None:
            await pool.shutdown()
        registry: SandboxRegistry | None = self.settings.get(  # type: ignore[attr-defined]
            "jupyter_sandbox_service")
        if registry is not None:
            await registry.shutdown()

    def service_routes(self) -> list[tuple[str, Any]]:
        return list(ROUTES)
