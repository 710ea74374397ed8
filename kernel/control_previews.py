"""Preview routes of the kernel's control endpoint: HTTP and WebSocket traffic for apps served
inside the sandbox, described by the proxy's ``X-Forwarded-*`` headers (``control_protocol``)."""

from __future__ import annotations

import base64
import os
from typing import Any

import tornado.httputil
import tornado.ioloop
import tornado.iostream
import tornado.web
import tornado.websocket
from tornado.http1connection import HTTP1Connection

from jupyter_sandbox.runtime.previews import (
    HttpRequest,
    PreviewGateway,
    ResponseAborted,
    ResponseStart,
    WebSocketEvents,
    plain,
)

from .control_protocol import (
    HOP_BY_HOP,
    KERNEL_ID_ENV,
    PREVIEW_URL_ENV,
    SERVER_URL_ENV,
    kernel_id_from,
)

# The proxy's X-Forwarded-* headers stay: apps use them to build URLs under the prefix.
_NOT_FORWARDED = HOP_BY_HOP | {
    "host", "content-length", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-accept"}


def build_request(handler: tornado.web.RequestHandler, port: str, route: str) -> HttpRequest:
    """The app's view of ``handler.request``: path below ``/<route>/<port>``, still
    percent-encoded; public prefix, host and scheme from the proxy's headers."""
    request = handler.request
    headers = request.headers
    prefix = f"/{route}/{port}"
    path = request.path[len(prefix):] or "/"
    host = headers.get("X-Forwarded-Host") or headers.get("Host") or "localhost"
    client = (headers.get("X-Forwarded-For") or "127.0.0.1").split(",")[0].strip()
    forwarded = [(name, value) for name, value in headers.get_all()
                 if name.lower() not in _NOT_FORWARDED]
    offered = headers.get("Sec-WebSocket-Protocol", "").split(",")
    protocols = [p.strip() for p in offered if p.strip()]
    return HttpRequest(
        port=int(port), method=request.method or "GET", path=path, query=request.query,
        headers=[("Host", host), *forwarded], body=request.body,
        script_name=headers.get("X-Forwarded-Prefix", prefix).rstrip("/"),
        scheme=headers.get("X-Forwarded-Proto") or "http", host=host, client=(client, 0),
        subprotocols=protocols)


class PreviewHTTPHandler(tornado.web.RequestHandler):
    """Any method on ``/preview/<port>/<path>``: the app's response, streamed as produced."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

    def set_default_headers(self) -> None:
        self.clear_header("Content-Type")
        self.clear_header("Server")

    def compute_etag(self) -> None:
        return None

    async def _proxy(self, port: str) -> None:
        gateway: PreviewGateway = self.settings["previews"]
        request = build_request(self, port, "preview")
        if not 1 <= request.port <= 65535:
            self._answer(*plain(400, "The port must be a number from 1 to 65535."))
            return
        try:
            async for part in gateway.http(request):
                if isinstance(part, ResponseStart):
                    self._start(part)
                else:
                    self.write(part)
                    await self.flush()
        except ResponseAborted as exc:
            gateway.log.warning("%s", exc)
            if isinstance(self.request.connection, HTTP1Connection):
                self.request.connection.close()
            self._finished = True
            return
        except tornado.iostream.StreamClosedError:
            return
        self.finish()

    def _start(self, start: ResponseStart) -> None:
        self.set_status(start.status, None if start.status in _KNOWN else "Status")
        seen: set[str] = set()
        for name, value in start.headers:
            lower = name.lower()
            if lower in HOP_BY_HOP:
                continue
            if lower in seen:
                self.add_header(name, value)
            else:
                seen.add(lower)
                self.set_header(name, value)

    def _answer(self, start: ResponseStart, body: bytes) -> None:
        self._start(start)
        self.finish(body)

    get = head = post = put = delete = patch = options = _proxy


_KNOWN = set(tornado.httputil.responses)


class PreviewWebSocketHandler(tornado.websocket.WebSocketHandler):
    """``/preview-ws/<port>/<path>``: a WebSocket to an ASGI app. The app decides during the
    handshake (it accepts, closes or fails) before the connection is accepted here."""

    _conn: str | None = None
    _accept: dict[str, Any] | None = None
    _early: list[tuple[str, dict[str, Any]]]

    async def get(self, port: str, *args: Any) -> None:
        gateway: PreviewGateway = self.settings["previews"]
        request = build_request(self, port, "preview-ws")
        self._conn = gateway.new_connection_id()
        guest = {**request.to_guest("ws_connect"), "conn": self._conn}
        self._port = request.port
        events = await gateway.websocket(guest)
        accepted = [content for kind, content in events.messages if kind == "ws.accept"]
        if events.refused or not accepted:
            status, text = events.refused or (403, "The app refused the WebSocket connection.")
            self._conn = None
            self.set_status(status)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(text + "\n")
            return
        self._accept = accepted[0]
        self._early = [(k, c) for k, c in events.messages if k != "ws.accept"]
        self._still_open = events.open
        await super().get(port, *args)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        chosen = (self._accept or {}).get("subprotocol")
        return chosen if chosen in subprotocols else None

    def open(self, *args: Any) -> None:
        self._replay(WebSocketEvents(self._early, self._still_open))

    def _replay(self, events: WebSocketEvents) -> None:
        for kind, content in events.messages:
            if kind == "ws.send":
                if "bytes" in content:
                    self.write_message(base64.b64decode(content["bytes"]), binary=True)
                else:
                    self.write_message(content.get("text", ""))
            elif kind == "ws.close":
                self._conn = None
                self.close(int(content.get("code") or 1000), content.get("reason") or None)
                return
        if not events.open and self._conn is not None:
            self._conn = None
            self.close(1011 if events.refused else 1000)

    async def on_message(self, message: str | bytes) -> None:
        if self._conn is None:
            return
        gateway: PreviewGateway = self.settings["previews"]
        request: dict[str, Any] = {"type": "ws_receive", "conn": self._conn, "port": self._port}
        if isinstance(message, bytes):
            request["bytes"] = base64.b64encode(message).decode("ascii")
        else:
            request["text"] = message
        self._replay(await gateway.websocket(request))

    def on_close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        gateway: PreviewGateway = self.settings["previews"]
        request = {"type": "ws_disconnect", "conn": conn, "port": self._port,
                   "code": self.close_code or 1005}
        tornado.ioloop.IOLoop.current().add_callback(gateway.websocket, request)

    def check_origin(self, origin: str) -> bool:
        # Only the Jupyter server reaches this Unix socket (mode 0600); it checked the origin.
        return True


def preview_environment(connection_file: str) -> dict[str, str]:
    """Guest environment variables that let ``jupyter_sandbox.serve`` print full links: the
    kernel id, and the preview URL when a Jupyter server with our extension started us."""
    kernel_id = kernel_id_from(connection_file) if connection_file else None
    if not kernel_id:
        return {}
    env = {KERNEL_ID_ENV: kernel_id}
    server_url = os.environ.get(SERVER_URL_ENV)
    if server_url:
        env[PREVIEW_URL_ENV] = f"{server_url.rstrip('/')}/sandbox/preview/{kernel_id}/"
    return env
