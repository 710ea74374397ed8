"""The jupyter-server extension of jupyter-sandbox: preview URLs for web apps served inside
sandboxed kernels (``{base_url}sandbox/preview/{kernel_id}/{port}/{path}``)."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import SandboxExtensionApp

    return [{"module": "jupyter_sandbox.server_extension", "app": SandboxExtensionApp}]
