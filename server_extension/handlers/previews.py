"""REST routes for the preview apps of a sandboxed kernel, behind Jupyter auth (the JupyterLab
side panel lists and stops them):

* ``GET    {base_url}sandbox/api/kernels/{kernel_id}/previews`` →
  ``{"previews": [{"port", "path", "url"}...]}`` (``path`` below the server's base URL);
* ``DELETE {base_url}sandbox/api/kernels/{kernel_id}/previews/{port}`` → 204 once the app
  registered on ``port`` is stopped (``jupyter_sandbox.stop(port)`` inside), 404 when none is.

Errors are the envelope of ``control_protocol.ErrorBody``: 404 unknown or non-sandboxed kernel
(or no preview on that port), 502 no answer.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_sandbox.kernel.control_protocol import PreviewsListBody

from .base import KernelAPIHandler

ROUTE = r"/sandbox/api/kernels/(?P<kernel_id>[^/]+)/previews(?:/(?P<port>[0-9]{1,5}))?"


class KernelPreviewsHandler(KernelAPIHandler):

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str, port: str | None = None) -> None:
        if port is not None:
            raise web.HTTPError(405, "GET lists the previews; use DELETE to stop one")
        listed: PreviewsListBody = await self.forward_json("GET", "/previews", kernel_id)
        ports = listed["ports"]
        server = f"{self.request.protocol}://{self.request.host}"
        previews = []
        for number in ports:
            path = f"sandbox/preview/{kernel_id}/{number}/"
            previews.append({"port": number, "path": path, "url": server + self.base_url + path})
        self.finish(json.dumps({"previews": previews}))

    @web.authenticated
    @authorized
    async def delete(self, kernel_id: str, port: str | None = None) -> None:
        if port is None:
            raise web.HTTPError(405, "DELETE needs a port: .../previews/{port}")
        await self.forward_json("DELETE", f"/previews/{int(port)}", kernel_id)
        self.set_status(204)
        self.finish()


HANDLERS = [(ROUTE, KernelPreviewsHandler)]
