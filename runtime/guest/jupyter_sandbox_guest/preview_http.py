"""``http`` requests: one HTTP request to a registered preview app, answered through
``http.start`` and ``http.body`` messages as the app produces its response (see the host's
``jupyter_sandbox.runtime.protocol``)."""

from __future__ import annotations

import base64
import io
import sys
import traceback
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from . import bridge

if TYPE_CHECKING:  # the guest's own jupyter_sandbox package, as mypy finds it on the host
    from jupyter_sandbox.runtime.guest.jupyter_sandbox._registry import Preview

_NO_BODY_STATUS = {204, 304}


class Response:
    """Sends the response to the host: the start line when the first body bytes (or the end)
    arrive, then each chunk at once, so a generator's chunks stream."""

    def __init__(self, method: str) -> None:
        self.head_only = method == "HEAD"
        self.status: int | None = None
        self.headers: list[list[str]] = []
        self.started = False

    def start(self, status: int, headers: list[list[str]]) -> None:
        self.status, self.headers = status, headers

    def _send_start(self) -> None:
        if not self.started:
            if self.status is None:
                raise RuntimeError("the app sent a body before its status and headers")
            self.started = True
            bridge.send("http.start", {"status": self.status, "headers": self.headers})

    def body(self, data: bytes) -> None:
        if not data:
            return
        self._send_start()
        if not self.head_only and self.status not in _NO_BODY_STATUS:
            bridge.send("http.body", {"data": base64.b64encode(data).decode("ascii")})

    def finish(self) -> None:
        self._send_start()


def _header_items(request: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in request.get("headers") or []]


def _server(request: dict[str, Any]) -> tuple[str, int]:
    host = str(request.get("host") or "localhost")
    default = 443 if request.get("scheme") == "https" else 80
    name, _, port = host.rpartition(":") if host.rsplit(":", 1)[-1].isdigit() else (host, "", "")
    return (name or host), int(port) if port else default


def _raw(text: str) -> bytes:
    """The bytes of a request-line field as the host hands it over: the HTTP server decoded
    them as latin-1 (a field of code points above 255 can only be UTF-8 text)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _path_bytes(request: dict[str, Any], key: str, default: str) -> bytes:
    """The raw (still percent-encoded) bytes of the request's ``path`` or ``script_name``."""
    return _raw(str(request.get(key) or default))


def wsgi_environ(request: dict[str, Any], body: bytes) -> dict[str, Any]:
    server_name, server_port = _server(request)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request["method"],
        # PEP 3333: the URL-decoded bytes, as latin-1 text (decoded exactly once; an app
        # gets its UTF-8 back with .encode("latin-1").decode("utf-8")).
        "SCRIPT_NAME": unquote_to_bytes(_path_bytes(request, "script_name", "")).decode("latin-1"),
        "PATH_INFO": unquote_to_bytes(_path_bytes(request, "path", "/")).decode("latin-1"),
        "QUERY_STRING": request.get("query") or "",
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": (request.get("client") or ["127.0.0.1"])[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.get("scheme") or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in _header_items(request):
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
            continue
        key = f"HTTP_{key}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def run_wsgi(app: Any, request: dict[str, Any], body: bytes, response: Response) -> None:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and response.started:
            raise exc_info[1].with_traceback(exc_info[2])
        code = int(str(status).split(" ", 1)[0])
        response.start(code, [[str(k), str(v)] for k, v in headers])
        return response.body

    result = app(wsgi_environ(request, body), start_response)
    try:
        for chunk in result:
            response.body(bytes(chunk))
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    response.finish()


def asgi_scope(request: dict[str, Any], kind: str) -> dict[str, Any]:
    raw_root = _path_bytes(request, "script_name", "")
    raw_path = raw_root + _path_bytes(request, "path", "/")
    script_name = unquote_to_bytes(raw_root).decode("utf-8", "replace")
    scope = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": request.get("scheme") or "http",
        # As uvicorn and the ASGI spec's WSGI notes: ``path`` includes ``root_path``.
        # ``path`` the URL-decoded UTF-8 text, ``raw_path`` the bytes as the browser sent them.
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "root_path": script_name,
        "query_string": (request.get("query") or "").encode("latin-1", "replace"),
        "headers": [(k.lower().encode("latin-1", "replace"), v.encode("latin-1", "replace"))
                    for k, v in _header_items(request)],
        "server": _server(request),
        "client": tuple(request.get("client") or ("127.0.0.1", 0)),
        "state": {},
    }
    if kind == "http":
        scope["method"] = request["method"]
    else:
        scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
        scope["subprotocols"] = list(request.get("subprotocols") or [])
    return scope


def run_asgi(app: Any, request: dict[str, Any], body: bytes, response: Response) -> None:
    from . import preview_asgi

    loop = preview_asgi.loop()
    finished = loop.create_future()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Frameworks listen for the disconnect while they stream: it comes when the
        # response is complete.
        await finished
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            headers = [[_text(k), _text(v)] for k, v in message.get("headers") or []]
            response.start(int(message["status"]), headers)
        elif kind == "http.response.body":
            response.body(bytes(message.get("body") or b""))
            if not message.get("more_body") and not finished.done():
                response.finish()
                finished.set_result(None)

    async def call() -> None:
        await app(asgi_scope(request, "http"), receive, send)

    loop.run_until_complete(call())
    if not finished.done():
        if response.status is None:
            raise RuntimeError("the ASGI app returned without sending a response")
        response.finish()
        finished.set_result(None)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def registered(port: int) -> Preview | None:
    """The app published on ``port`` (``jupyter_sandbox.serve``), if any."""
    if TYPE_CHECKING:
        from jupyter_sandbox.runtime.guest.jupyter_sandbox._registry import lookup
    else:
        from jupyter_sandbox._registry import lookup
    return lookup(port)


def handle(request: dict[str, Any]) -> dict[str, Any]:
    port = int(request.get("port", 0))
    preview = registered(port)
    if preview is None:
        return {"status": "error", "code": 502,
                "message": f"Nothing is served on port {port} in this sandbox."}
    body = base64.b64decode(request.get("body") or "")
    response = Response(str(request.get("method", "GET")))
    try:
        if preview.kind == "asgi":
            run_asgi(preview.app, request, body, response)
        else:
            run_wsgi(preview.app, request, body, response)
    except (KeyboardInterrupt, TimeoutError) as exc:
        return {"status": "error", "code": 503, "started": response.started,
                "message": "The request was interrupted.", "traceback": _format(exc)}
    except BaseException as exc:  # noqa: BLE001 - reported to the host, which logs it
        return {"status": "error", "code": 500, "started": response.started,
                "message": "The app failed.", "traceback": _format(exc)}
    return {"status": "ok"}


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
