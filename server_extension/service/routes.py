"""All routes of the sandbox service, for ``SandboxExtensionApp.initialize_handlers``."""

from __future__ import annotations

from . import (
    commands,
    exec,
    files,
    network,
    openapi,
    packages,
    pool_status,
    sandboxes,
    templates,
)

ROUTES = [*sandboxes.ROUTES, *exec.ROUTES, *files.ROUTES, *packages.ROUTES,
          *commands.ROUTES, *pool_status.ROUTES, *templates.ROUTES, *network.ROUTES,
          *openapi.ROUTES]
