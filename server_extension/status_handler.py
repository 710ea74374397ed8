"""REST route for a sandboxed kernel's status, behind Jupyter auth (the JupyterLab side panel
and status bar poll it):

* ``GET {base_url}sandbox/api/kernels/{kernel_id}/status`` → the kernel's ``Sandbox.status()``
  (limits, usage, mounts, execution count) as JSON.

Errors are JSON ``{"message": ...}``: 404 for an unknown or non-sandboxed kernel, 502 when the
kernel's control endpoint does not answer.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .kernel_control import KernelControl, KernelControlError

AUTH_RESOURCE = "kernels"
ROUTE = r"/sandbox/api/kernels/(?P<kernel_id>[^/]+)/status"


class StatusHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def control(self) -> KernelControl:
        return self.settings["jupyter_sandbox_control"]

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        try:
            status = await self.control.json(kernel_id, "GET", "/status")
        except KernelControlError as exc:
            raise web.HTTPError(exc.status, str(exc)) from exc
        self.finish(json.dumps({"kernel_id": kernel_id, **status}))
