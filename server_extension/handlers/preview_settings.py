"""``GET {base_url}sandbox/api/preview-settings`` (behind Jupyter auth): how previews are
served, so the JupyterLab extension knows which preview URLs to trust and how to frame them.

Answers ``{"preview_host": "<pattern>"}`` when previews have origins of their own
(``SandboxExtensionApp.preview_host``), ``{"preview_host": null}`` on the shared origin.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import EnvelopeErrors

ROUTE = r"/sandbox/api/preview-settings"


class PreviewSettingsHandler(EnvelopeErrors, APIHandler):
    auth_resource = "kernels"

    @web.authenticated
    @authorized
    def get(self) -> None:
        hosts = self.settings.get("jupyter_sandbox_preview_hosts")
        self.finish(json.dumps({"preview_host": hosts.pattern if hosts is not None else None}))


HANDLERS = [(ROUTE, PreviewSettingsHandler)]
