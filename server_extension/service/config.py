"""The sandbox service's settings, as traitlets of ``SandboxExtensionApp`` (this class is one
of its bases), e.g. ``c.SandboxExtensionApp.max_sandboxes = 8`` in ``jupyter_server_config.py``.
``initialize_service`` prepares what the handlers of ``service/`` find in their settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from traitlets import Float, Int, Unicode
from traitlets.config import Configurable

from .registry import SandboxLimits, SandboxRegistry
from .routes import ROUTES

MiB = 1 << 20


class SandboxServiceConfig(Configurable):
    max_sandboxes = Int(16, help="Sandboxes the service keeps at once (running or stopped while "
                        "idle); creating more is answered 429.").tag(config=True)
    idle_timeout = Float(900.0, help="Seconds a service sandbox may stay unused before it is "
                         "snapshotted and its kernel stopped; it starts again from the snapshot "
                         "on its next use. 0: never.").tag(config=True)
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
    service_state_dir = Unicode("", help="Where service sandboxes keep snapshots; default: "
                                "Jupyter's data dir, sandbox/service.").tag(config=True)

    def initialize_service(self) -> None:
        settings: dict[str, Any] = self.settings  # type: ignore[attr-defined]
        server = self.serverapp  # type: ignore[attr-defined]
        folder = Path(self.service_state_dir or Path(jupyter_data_dir()) / "sandbox" / "service")
        folder.mkdir(parents=True, exist_ok=True)
        limits = SandboxLimits(self.sandbox_memory_mib, self.sandbox_workspace_mib,
                               self.sandbox_cell_timeout)
        registry = SandboxRegistry(
            server.kernel_manager, settings["jupyter_sandbox_control"], folder,
            max_sandboxes=self.max_sandboxes, idle_timeout=self.idle_timeout, limits=limits,
            start_timeout=self.sandbox_start_timeout, log=self.log)  # type: ignore[attr-defined]
        registry.start_reaper()
        settings["jupyter_sandbox_service"] = registry
        settings["jupyter_sandbox_max_upload"] = int(self.max_upload_mib * MiB)

    async def stop_service(self) -> None:
        """Stop the idle reaper (the server is stopping)."""
        registry: SandboxRegistry | None = self.settings.get(  # type: ignore[attr-defined]
            "jupyter_sandbox_service")
        if registry is not None:
            await registry.shutdown()

    def service_routes(self) -> list[tuple[str, Any]]:
        return list(ROUTES)
