"""Sandboxes as a service, the network route: ``GET /sandboxes/{id}/network`` (the policy in
force, the administrator's, recent connections) and ``PUT /sandboxes/{id}/network`` (a new
policy from the next connection on, as E2B's ``updateNetwork``).

The API may only narrow the administrator's policy (``SandboxKernel.network*`` traits): the
kernel enforces it (``kernel/control_network.py``) and answers 403 ``network_not_permitted``
for a change that would widen it, 400 ``bad_network_policy`` for a bad rule or field.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import ServiceHandler
from .sandboxes import ID, PREFIX


class NetworkHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def get(self, sandbox_id: str) -> None:
        self.send_json(await self.kernel_json(sandbox_id, "GET", "/network"))

    @web.authenticated
    @authorized
    async def put(self, sandbox_id: str) -> None:
        record = self.registry.get(sandbox_id)
        self.send_json(await self.registry.set_network(record, self.json_body()))


ROUTES = [(rf"{PREFIX}/sandboxes/{ID}/network", NetworkHandler)]
__all__ = ["ROUTES"]
