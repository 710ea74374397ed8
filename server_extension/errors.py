"""Errors of the server extension's JSON routes, all answered as the one envelope of
``kernel/control_protocol.py`` (``ErrorBody``: ``message``, ``reason``, ``code``, ``hint``):

* ``APIError`` — raise it with the status, a message and, where it helps, a ``code`` more
  precise than the status's and a ``hint`` (what to do next). ``ControlError`` (a kernel's error,
  passed on with its status and code) and the service's ``ServiceError`` are ``APIError``\\ s.
* ``EnvelopeErrors`` — the ``write_error`` every JSON handler of the extension inherits, so
  tornado's and jupyter_server's own errors (a refused login, an unknown method, a failed XSRF
  check, a bug) come out in the same envelope, never as an HTML page or a traceback.
* ``UnknownRouteHandler`` — 404 in the envelope for any other path under ``sandbox/api/``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from jupyter_sandbox.kernel.control_protocol import JSON, ErrorBody, error_body

#: Messages of errors raised without one (``HTTPError(403)`` from a refused login...).
_BARE_MESSAGES = {
    403: "this route needs a Jupyter login or the server's token",
    404: "no such route",
    405: "this route does not take that method",
}


class APIError(web.HTTPError):
    """An error answer: HTTP ``status``, ``message``, a short ``code`` (by default the one of
    the status) and a ``hint`` (by default the code's, see ``control_protocol.DEFAULT_HINTS``)."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 hint: str | None = None, output: list[str] | None = None) -> None:
        super().__init__(status, "%s", message)
        self.body: ErrorBody = error_body(status, message, code, hint)
        if output is not None:
            self.body["output"] = output
        self.code = self.body["code"]
        self.message = message
        self.hint = self.body["hint"]


def _login_hint(status: int) -> str | None:
    """Under JupyterHub a refused request needs the hub's login or a hub API token, not the
    single-user server's own token (which a user never sees): say so. None elsewhere."""
    user = os.environ.get("JUPYTERHUB_USER")
    if status not in (401, 403) or not user:
        return None
    return (f"Log in through JupyterHub as {user}, or send a JupyterHub API token with the "
            f"scope 'access:servers!user={user}' as the header 'Authorization: token <token>' "
            f"(the hub's Token page, or POST hub/api/users/{user}/tokens, makes one).")


def envelope_for(status: int, exc: BaseException | None) -> ErrorBody:
    """The envelope of the exception a handler failed with (None: tornado's own error)."""
    if isinstance(exc, APIError):
        return exc.body
    if exc is not None and not isinstance(exc, web.HTTPError):
        return error_body(500, "internal error of the jupyter_sandbox server extension")
    message = ""
    if isinstance(exc, web.HTTPError) and exc.log_message:
        message = exc.log_message % exc.args if exc.args else exc.log_message
    bare = error_body(status, "")
    return error_body(status, message or _BARE_MESSAGES.get(status) or bare["reason"].lower(),
                      hint=_login_hint(status))


class EnvelopeErrors(web.RequestHandler):
    """Mixin (before the handler's base class): errors as the one JSON envelope."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.clear_header("Content-Disposition")
        self.set_header("Content-Type", JSON)
        self.finish(json.dumps(envelope_for(status_code, exc)))


class UnknownRouteHandler(EnvelopeErrors, APIHandler):
    """Every other path under ``{base_url}sandbox/api/``: 404 in the envelope (not
    jupyter_server's HTML page), whatever the method."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        raise APIError(404, "no such route of the jupyter_sandbox API",
                       hint="Check the URL: the routes of a kernel are under "
                            "sandbox/api/kernels/<kernel id>/, the sandbox service's under "
                            "sandbox/api/v1/ (GET sandbox/api/v1/openapi.json lists them).")


ROUTE = r"/sandbox/api/.*"
HANDLERS = [(ROUTE, UnknownRouteHandler)]
