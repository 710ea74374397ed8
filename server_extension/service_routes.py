"""All routes of the sandbox service, for ``SandboxExtensionApp.initialize_handlers``."""

from __future__ import annotations

from . import service_exec, service_files, service_openapi, service_packages, service_sandboxes

ROUTES = [*service_sandboxes.ROUTES, *service_exec.ROUTES, *service_files.ROUTES,
          *service_packages.ROUTES, *service_openapi.ROUTES]
