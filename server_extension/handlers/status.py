"""REST route for a sandboxed kernel's status, behind Jupyter auth (the JupyterLab side panel
and status bar poll it):

* ``GET {base_url}sandbox/api/kernels/{kernel_id}/status`` → the kernel's ``Sandbox.status()``
  (limits, usage, mounts, execution count) as JSON.

Errors are the envelope of ``control_protocol.ErrorBody``: 404 for an unknown or non-sandboxed
kernel, 502 when the kernel's control endpoint does not answer.

A kernel answers ``kernel_info`` (and JupyterLab shows it idle) a moment before its control
socket listens: for a sandboxed kernel the server knows, the control client waits for the
socket (``ControlClient.wait_for_socket``) instead of answering 404 to a front end that asked
too early.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import KernelAPIHandler

ROUTE = r"/sandbox/api/kernels/(?P<kernel_id>[^/]+)/status"


class StatusHandler(KernelAPIHandler):

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        status = await self.control.json(kernel_id, "GET", "/status")
        self.finish(json.dumps({"kernel_id": kernel_id, **status}))
