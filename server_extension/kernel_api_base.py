"""The base of the kernel-level REST handlers (``{base_url}sandbox/api/kernels/{id}/...``):
Jupyter's ``kernels`` authorization, the shared control-socket client, and forwarding a JSON
call to a kernel with its error turned into the matching HTTP error."""

from __future__ import annotations

from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from .control_client import ControlClient, ControlError


class KernelAPIHandler(APIHandler):
    auth_resource = "kernels"

    @property
    def control(self) -> ControlClient:
        return self.settings["jupyter_sandbox_control"]

    async def forward_json(self, method: str, path: str, kernel_id: str) -> Any:
        """The kernel's JSON answer; its error status and message as an ``HTTPError``."""
        try:
            return await self.control.json(kernel_id, method, path)
        except ControlError as exc:
            raise web.HTTPError(exc.status, str(exc)) from exc
