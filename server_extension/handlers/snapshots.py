"""REST API for a kernel's named snapshots, behind Jupyter auth:

* ``GET    {base_url}sandbox/api/kernels/{kernel_id}/snapshots``
* ``POST   {base_url}sandbox/api/kernels/{kernel_id}/snapshots/{name}`` (save, 201)
* ``POST   {base_url}sandbox/api/kernels/{kernel_id}/snapshots/{name}/restore``
* ``DELETE {base_url}sandbox/api/kernels/{kernel_id}/snapshots/{name}`` (204)

Errors are the envelope of ``control_protocol.ErrorBody`` with the kernel's status and code
(400 ``bad_name``, 404 unknown kernel or snapshot), never a traceback.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..control_client import quote_path
from .base import KernelAPIHandler

ROUTE = (r"/sandbox/api/kernels/(?P<kernel_id>[^/]+)/snapshots"
         r"(?:/(?P<name>[^/]+)(?:/(?P<action>restore))?)?")


class SnapshotsHandler(KernelAPIHandler):

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str, name: str | None = None, action: str | None = None) -> None:
        if name is not None:
            raise web.HTTPError(405, "GET lists snapshots; use POST to save or restore one")
        self.finish(json.dumps(await self.forward_json("GET", "/snapshots", kernel_id)))

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str, name: str | None = None,
                   action: str | None = None) -> None:
        if name is None:
            raise web.HTTPError(405, "POST needs a snapshot name: .../snapshots/{name}")
        path = f"/snapshots/{quote_path(name)}" + ("/restore" if action else "")
        result = await self.forward_json("POST", path, kernel_id)
        self.set_status(200 if action else 201)
        self.finish(json.dumps(result))

    @web.authenticated
    @authorized
    async def delete(self, kernel_id: str, name: str | None = None,
                     action: str | None = None) -> None:
        if name is None or action is not None:
            raise web.HTTPError(405, "DELETE needs a snapshot name: .../snapshots/{name}")
        await self.forward_json("DELETE", f"/snapshots/{quote_path(name)}", kernel_id)
        self.set_status(204)
        self.finish()
