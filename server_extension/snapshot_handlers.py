"""REST API for a kernel's named snapshots, behind Jupyter auth:

* ``GET    {base_url}sandbox/api/kernels/{kernel_id}/snapshots``
* ``POST   {base_url}sandbox/api/kernels/{kernel_id}/snapshots/{name}`` (save, 201)
* ``POST   {base_url}sandbox/api/kernels/{kernel_id}/snapshots/{name}/restore``
* ``DELETE {base_url}sandbox/api/kernels/{kernel_id}/snapshots/{name}`` (204)

Errors are JSON ``{"message": ...}`` with the kernel's status (400 bad name, 404 unknown kernel
or snapshot), never a traceback.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .kernel_control import KernelControl, KernelControlError

AUTH_RESOURCE = "kernels"
ROUTE = r"/sandbox/api/kernels/(?P<kernel_id>[^/]+)/snapshots(?:/(?P<name>[^/]+)(?:/(?P<action>restore))?)?"


class SnapshotsHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def control(self) -> KernelControl:
        return self.settings["jupyter_sandbox_control"]

    async def _forward(self, method: str, path: str, kernel_id: str) -> Any:
        try:
            return await self.control.json(kernel_id, method, path)
        except KernelControlError as exc:
            raise web.HTTPError(exc.status, str(exc)) from exc

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str, name: str | None = None, action: str | None = None) -> None:
        if name is not None:
            raise web.HTTPError(405, "GET lists snapshots; use POST to save or restore one")
        self.finish(json.dumps(await self._forward("GET", "/snapshots", kernel_id)))

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str, name: str | None = None, action: str | None = None) -> None:
        if name is None:
            raise web.HTTPError(405, "POST needs a snapshot name: .../snapshots/{name}")
        path = f"/snapshots/{name}" + ("/restore" if action else "")
        result = await self._forward("POST", path, kernel_id)
        self.set_status(200 if action else 201)
        self.finish(json.dumps(result))

    @web.authenticated
    @authorized
    async def delete(self, kernel_id: str, name: str | None = None, action: str | None = None) -> None:
        if name is None or action is not None:
            raise web.HTTPError(405, "DELETE needs a snapshot name: .../snapshots/{name}")
        await self._forward("DELETE", f"/snapshots/{name}", kernel_id)
        self.set_status(204)
        self.finish()
