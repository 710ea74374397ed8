"""What every handler of the sandbox service shares: Jupyter auth, JSON bodies, and errors as
the one envelope of ``control_protocol.ErrorBody`` with the right status (never a traceback):
``ServiceError``, a kernel's ``ControlError`` and jupyter_server's own errors alike."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler

from ..errors import EnvelopeErrors
from .errors import ServiceError
from .registry import SandboxRegistry

AUTH_RESOURCE = "kernels"


class ServiceHandler(EnvelopeErrors, APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def registry(self) -> SandboxRegistry:
        return self.settings["jupyter_sandbox_service"]

    def json_body(self) -> dict[str, Any]:
        """The request's JSON object body ({} when empty); 400 otherwise."""
        if not self.request.body:
            return {}
        try:
            body = json.loads(self.request.body)
        except ValueError as exc:
            raise ServiceError(400, f"the body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ServiceError(400, "the body must be a JSON object")
        return body

    def send_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(body))

    async def kernel_json(self, sandbox_id: str, method: str, path: str,
                          body: Any = None) -> Any:
        """The JSON answer of the sandbox's kernel to ``method path`` (its control API), the
        sandbox started again first if it was stopped, and kept from stopping meanwhile."""
        record = self.registry.get(sandbox_id)
        async with self.registry.use(record) as kernel_id:
            return await self.registry.control.json(kernel_id, method, path, body)
