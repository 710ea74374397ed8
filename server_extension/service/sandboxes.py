"""Sandboxes as a service, the sandbox routes (under ``{base_url}sandbox/api/v1``):

* ``GET/POST /sandboxes``; ``GET/DELETE /sandboxes/{id}``
* ``POST /sandboxes/{id}/interrupt``, ``POST /sandboxes/{id}/fork``,
  ``POST /sandboxes/{id}/keep_alive`` (reset its idle timer, restart its lifetime)
* ``GET/POST /sandboxes/{id}/snapshots``, ``GET /sandboxes/{id}/previews``
* ``POST /sandboxes`` takes a ``network`` object (``network.py``: the same as its PUT)

``openapi`` describes each exactly.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..control_client import quote_path
from .base import ServiceHandler
from .errors import ServiceError
from .from_template import create_from_template
from .lifecycle import FIELDS as LIFECYCLE_FIELDS
from .registry import SandboxRecord

PREFIX = r"/sandbox/api/v1"
ID = r"(?P<sandbox_id>[^/]+)"


class SandboxesHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send_json({"sandboxes": [r.to_json() for r in self.registry.list()]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        unknown = set(body) - {"limits", "metadata", "from_snapshot", "template", "network",
                               *LIFECYCLE_FIELDS}
        if unknown:
            raise ServiceError(400, f"unknown fields: {', '.join(sorted(unknown))}")
        lifecycle = self.registry.lifecycle.choose(body)
        if body.get("template") is not None:
            if body.get("from_snapshot") is not None:
                raise ServiceError(400, "give \"template\" or \"from_snapshot\", not both")
            record = await create_from_template(
                self.registry, self.settings["jupyter_sandbox_templates"], body["template"],
                body.get("limits"), body.get("metadata"), lifecycle)
            await self._set_network(record, body)
            self.send_json(record.to_json(), 201)
            return
        snapshot = None
        if body.get("from_snapshot") is not None:
            snapshot = self.registry.named_snapshot(body["from_snapshot"])
        record = await self.registry.create(body.get("limits"), body.get("metadata"), snapshot,
                                            lifecycle=lifecycle)
        await self._set_network(record, body)
        self.send_json(record.to_json(), 201)

    async def _set_network(self, record: SandboxRecord, body: dict[str, Any]) -> None:
        """Apply ``body["network"]`` to the new sandbox; one the kernel refuses (a bad rule,
        or wider than the administrator's policy) deletes the sandbox and is answered."""
        if body.get("network") is None:
            return
        try:
            await self.registry.set_network(record, body["network"])
        except BaseException:
            await self.registry.delete(record)
            raise


class SandboxHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def get(self, sandbox_id: str) -> None:
        self.send_json(self.registry.get(sandbox_id).to_json())

    @web.authenticated
    @authorized
    async def delete(self, sandbox_id: str) -> None:
        await self.registry.delete(self.registry.get(sandbox_id), wait=False)
        self.set_status(204)
        self.finish()


class KeepAliveHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str) -> None:
        record = self.registry.get(sandbox_id)
        self.send_json((await self.registry.keep_alive(record, self.json_body())).to_json())


class InterruptHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str) -> None:
        record = self.registry.get(sandbox_id)
        if record.kernel_id is not None:  # a stopped sandbox runs nothing to interrupt
            await self.registry.control.request(record.kernel_id, "POST", "/interrupt")
        self.set_status(204)
        self.finish()


class ForkHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str) -> None:
        body = self.json_body()
        if set(body) - {"metadata"}:
            raise ServiceError(400, "a fork takes only \"metadata\"")
        record = self.registry.get(sandbox_id)
        async with self.registry.use(record) as kernel_id:
            answer = await self.registry.control.request(kernel_id, "GET", "/snapshot")
            data = bytes(answer.body)
        metadata = body.get("metadata", {**record.metadata, "forked_from": record.id})
        fork = await self.registry.create(record.limits.to_json(), metadata, data,
                                          lifecycle=record.lifecycle)
        if record.network is not None:  # a fork keeps the network policy asked for
            await self.registry.set_network(fork, record.network)
        self.send_json(fork.to_json(), 201)


class SnapshotsHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def get(self, sandbox_id: str) -> None:
        self.send_json(await self.kernel_json(sandbox_id, "GET", "/snapshots"))

    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str) -> None:
        name = self.json_body().get("name")
        if not isinstance(name, str):
            raise ServiceError(400, "the body needs \"name\", a string")
        info = await self.kernel_json(sandbox_id, "POST", "/snapshots/" + quote_path(name))
        self.send_json(info, 201)


class PreviewsHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def get(self, sandbox_id: str) -> None:
        record = self.registry.get(sandbox_id)
        async with self.registry.use(record) as kernel_id:
            ports = (await self.registry.control.json(kernel_id, "GET", "/previews"))["ports"]
        server = f"{self.request.protocol}://{self.request.host}"
        previews = []
        for port in ports:
            path = f"{self.base_url}sandbox/preview/{kernel_id}/{port}/"
            previews.append({"port": port, "path": path, "url": server + path})
        self.send_json({"previews": previews})


ROUTES = [
    (PREFIX + r"/sandboxes", SandboxesHandler),
    (PREFIX + rf"/sandboxes/{ID}", SandboxHandler),
    (PREFIX + rf"/sandboxes/{ID}/interrupt", InterruptHandler),
    (PREFIX + rf"/sandboxes/{ID}/keep_alive", KeepAliveHandler),
    (PREFIX + rf"/sandboxes/{ID}/fork", ForkHandler),
    (PREFIX + rf"/sandboxes/{ID}/snapshots", SnapshotsHandler),
    (PREFIX + rf"/sandboxes/{ID}/previews", PreviewsHandler),
]
