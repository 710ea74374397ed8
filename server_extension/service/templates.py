"""Templates of the sandbox service (under ``{base_url}sandbox/api/v1``):

* ``POST /templates`` ``{"name", "sandbox_id"}``: save a snapshot of a running sandbox as a
  named template (201; 409 when the name is taken, 400 ``bad_name``);
* ``GET /templates``; ``DELETE /templates/{name}``;
* ``POST /sandboxes {"template": name}`` (``sandboxes.py``) starts a sandbox from one
  (``from_template.py``).
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import ServiceHandler
from .errors import ServiceError
from .sandboxes import PREFIX
from .template_store import TemplateStore


class _TemplateHandler(ServiceHandler):
    @property
    def templates(self) -> TemplateStore:
        return self.settings["jupyter_sandbox_templates"]


class TemplatesHandler(_TemplateHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send_json({"templates": self.templates.list()})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        if set(body) - {"name", "sandbox_id"} or not isinstance(body.get("sandbox_id"), str):
            raise ServiceError(400, "the body must be {\"name\": ..., \"sandbox_id\": ...}")
        name = body.get("name")
        self.templates.free_path(name)  # 400 or 409 before the sandbox is touched
        record = self.registry.get(body["sandbox_id"])
        async with self.registry.use(record) as kernel_id:
            data = bytes((await self.registry.control.request(kernel_id, "GET",
                                                              "/snapshot")).body)
        self.send_json(self.templates.save(str(name), data), 201)


class TemplateHandler(_TemplateHandler):
    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        self.templates.delete(name)
        self.set_status(204)
        self.finish()


ROUTES = [
    (PREFIX + r"/templates", TemplatesHandler),
    (PREFIX + r"/templates/(?P<name>[^/]+)", TemplateHandler),
]
