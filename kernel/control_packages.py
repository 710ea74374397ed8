"""Package route of the kernel's control endpoint: ``POST /packages`` with
``{"action": "install" | "uninstall" | "list", "args": [...]}`` runs ``Sandbox.pip`` (the same
as ``%pip``) and answers ``{"result": [...], "output": [...]}``, or 400 with the protocol's
error envelope (and pip's ``output``) when pip or the sandbox's package policy refuses."""

from __future__ import annotations

import asyncio
import json

import tornado.web

from jupyter_sandbox.runtime.errors import SandboxError

from .control_base import ControlHandler
from .control_protocol import PACKAGE_ACTIONS


class PackagesHandler(ControlHandler):
    async def post(self) -> None:
        try:
            request = json.loads(self.request.body or b"{}")
        except ValueError:
            self.fail(400, "the body must be JSON")
            return
        if not isinstance(request, dict):
            request = {}
        action, args = request.get("action"), request.get("args", [])
        if action not in PACKAGE_ACTIONS or not isinstance(args, list) or \
                not all(isinstance(a, str) for a in args):
            self.fail(400, "expected {\"action\": install|uninstall|list, \"args\": [strings]}")
            return
        output: list[str] = []
        try:
            result = await asyncio.to_thread(self.settings["sandbox"].pip, action, args,
                                             output.append)
        except SandboxError as exc:
            self.fail(400, str(exc), output=output)
            return
        self.send_json(200, {"result": list(result), "output": output})


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [(r"/packages", PackagesHandler)]
