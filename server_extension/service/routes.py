"""All routes of the sandbox service, for ``SandboxExtensionApp.initialize_handlers``."""

from __future__ import annotations

from . import commands, exec, files, openapi, packages, sandboxes

ROUTES = [*sandboxes.ROUTES, *exec.ROUTES, *files.ROUTES, *packages.ROUTES,
          *commands.ROUTES, *openapi.ROUTES]
