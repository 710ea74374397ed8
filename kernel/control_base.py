"""What every handler of the kernel's control endpoint shares: the sandbox, JSON answers, and
errors as the protocol's one envelope (``control_protocol.ErrorBody``) — never tornado's HTML
error page or a traceback (those go to the kernel's log). ``UnknownRouteHandler`` answers any
path the endpoint does not serve the same way."""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from jupyter_sandbox.runtime.sandbox import Sandbox

from .control_protocol import JSON, error_body


class ControlHandler(tornado.web.RequestHandler):
    @property
    def sandbox(self) -> Sandbox:
        return self.settings["sandbox"]

    def send_json(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", JSON)
        self.finish(json.dumps(body))

    def fail(self, status: int, message: str, code: str | None = None,
             hint: str | None = None, output: list[str] | None = None) -> None:
        """Answer the error envelope (``output``: only the packages route's pip output)."""
        body = error_body(status, message, code, hint)
        if output is not None:
            body["output"] = output
        self.send_json(status, body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code >= 500:
            message = "the kernel's control endpoint failed (the kernel's log says why)"
        else:
            message = f"{self._reason.lower()}: {self.request.method} {self.request.path}"
        self.fail(status_code, message)


class UnknownRouteHandler(ControlHandler):
    """Any path the control endpoint does not serve (its ``default_handler_class``)."""

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404, "the kernel's control endpoint has no route %s",
                                    self.request.path)


__all__ = ["ControlHandler", "UnknownRouteHandler"]
