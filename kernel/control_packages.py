"""Package route of the kernel's control endpoint: ``POST /packages`` with
``{"action": "install" | "uninstall" | "list", "args": [...]}`` runs ``Sandbox.pip`` (the same
as ``%pip``) and answers ``{"result": [...], "output": [...]}``, or 400 ``{"error": ...}`` when
pip or the sandbox's package policy refuses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web

from jupyter_sandbox.runtime.errors import SandboxError

from .control_protocol import JSON, PACKAGE_ACTIONS


class PackagesHandler(tornado.web.RequestHandler):
    def _json(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", JSON)
        self.finish(json.dumps(body))

    async def post(self) -> None:
        try:
            request = json.loads(self.request.body or b"{}")
        except ValueError:
            self._json(400, {"error": "the body must be JSON"})
            return
        action, args = request.get("action"), request.get("args", [])
        if action not in PACKAGE_ACTIONS or not isinstance(args, list) or \
                not all(isinstance(a, str) for a in args):
            self._json(400, {"error": "expected {\"action\": install|uninstall|list, "
                                      "\"args\": [strings]}"})
            return
        output: list[str] = []
        try:
            result = await asyncio.to_thread(self.settings["sandbox"].pip, action, args,
                                             output.append)
        except SandboxError as exc:
            self._json(400, {"error": str(exc), "output": output})
            return
        self._json(200, {"result": list(result), "output": output})


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [(r"/packages", PackagesHandler)]
