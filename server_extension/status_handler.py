"""REST route for a sandboxed kernel's status, behind Jupyter auth (the JupyterLab side panel
and status bar poll it):

* ``GET {base_url}sandbox/api/kernels/{kernel_id}/status`` → the kernel's ``Sandbox.status()``
  (limits, usage, mounts, execution count) as JSON.

Errors are JSON ``{"message": ...}``: 404 for an unknown or non-sandboxed kernel, 502 when the
kernel's control endpoint does not answer.

A kernel answers ``kernel_info`` (and JupyterLab shows it idle) a moment before its control
socket listens: for a kernel the server knows, the handler waits up to ``STARTUP_WAIT``
seconds for the socket instead of answering 404 to a front end that asked too early.
"""

from __future__ import annotations

import asyncio
import json

from jupyter_server.auth.decorator import authorized
from tornado import web

from .kernel_api_base import KernelAPIHandler
from .kernel_control import KernelControlError

ROUTE = r"/sandbox/api/kernels/(?P<kernel_id>[^/]+)/status"
#: Seconds to wait for the control socket of a kernel that is still starting.
STARTUP_WAIT = 10.0


class StatusHandler(KernelAPIHandler):

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        await self._wait_for_socket(kernel_id)
        try:
            status = await self.control.json(kernel_id, "GET", "/status")
        except KernelControlError as exc:
            raise web.HTTPError(exc.status, str(exc)) from exc
        self.finish(json.dumps({"kernel_id": kernel_id, **status}))

    async def _wait_for_socket(self, kernel_id: str) -> None:
        """Return once the kernel's control socket exists, the kernel is gone, or after
        ``STARTUP_WAIT`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_WAIT
        while (kernel_id in self.control.kernel_manager
               and self.control.socket_for(kernel_id) is None and loop.time() < deadline):
            await asyncio.sleep(0.1)
