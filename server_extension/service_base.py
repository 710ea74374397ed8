"""What every handler of the sandbox service shares: Jupyter auth, JSON bodies, and errors as
``{"error": {"code", "message"}}`` with the right status (never a traceback)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from .control_client import ControlError
from .service_errors import CODES, ServiceError
from .service_registry import SandboxRegistry

AUTH_RESOURCE = "kernels"


class ServiceHandler(APIHandler):
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

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ServiceError):
            code, message = exc.code, exc.message
        elif isinstance(exc, web.HTTPError):
            code = CODES.get(status_code, "error")
            message = exc.log_message % exc.args if exc.log_message and exc.args else (
                exc.log_message or exc.reason or self._reason)
        else:
            code, message = "internal_error", "internal server error (see the server's log)"
        self.clear_header("Content-Disposition")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"code": code, "message": message}}))


class kernel_errors(contextlib.AbstractContextManager[None],
                    contextlib.AbstractAsyncContextManager[None]):
    """Answer a kernel's error with its status and message (``with`` or ``async with``)."""

    def __exit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> None:
        if isinstance(exc, ControlError):
            raise ServiceError(exc.status, str(exc)) from exc

    async def __aexit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> None:
        self.__exit__(_type, exc, _tb)
