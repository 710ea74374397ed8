"""Sandboxes as a service, the package route: ``POST /sandboxes/{id}/packages`` with
``{"action": "install" | "uninstall" | "list", "args": [...]}`` installs pure-Python packages
into the sandbox as ``%pip`` does (the host resolves and downloads; the guest gets no network).
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import ServiceHandler
from .errors import ServiceError
from .sandboxes import ID, PREFIX


class PackagesHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str) -> None:
        body = self.json_body()
        if set(body) - {"action", "args"} or body.get("action") not in ("install", "uninstall",
                                                                          "list"):
            raise ServiceError(400, 'expected {"action": "install"|"uninstall"|"list", '
                                    '"args": [strings]}')
        record = self.registry.get(sandbox_id)
        async with self.registry.use(record) as kernel_id:
            answer = await self.registry.control.json(kernel_id, "POST", "/packages", body)
            if body["action"] != "list":  # installed files: on disk before we answer
                await self.registry.checkpoint(record)
        self.send_json(answer)


ROUTES = [(rf"{PREFIX}/sandboxes/{ID}/packages", PackagesHandler)]
__all__ = ["ROUTES"]
