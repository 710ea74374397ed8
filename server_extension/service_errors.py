"""The sandbox service's error: an HTTP status, a short code and a message that says what
to do, sent as ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from tornado import web

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
           405: "method_not_allowed", 409: "conflict", 413: "too_large",
           429: "too_many_sandboxes", 502: "sandbox_failed", 503: "unavailable",
           504: "timeout"}


class ServiceError(web.HTTPError):
    """An error answer: HTTP ``status``, a short machine-readable ``code`` and a message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(status, "%s", message)
        self.code = code or CODES.get(status, "error")
        self.message = message
