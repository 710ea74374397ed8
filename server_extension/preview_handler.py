"""``{base_url}sandbox/preview/{kernel_id}/{port}/{path}``: every HTTP method and WebSocket
upgrades, proxied to the kernel's control socket, behind Jupyter's authentication.

Every request, WebSocket upgrades included, must be authenticated (403 otherwise, before any
kernel is contacted) and allowed to execute in kernels. Jupyter's token, cookies and
Authorization header are removed; error pages are fixed texts that never echo the request.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from tornado import httpclient, httputil, iostream, web, websocket

from jupyter_sandbox.kernel.control_protocol import socket_path_for

from . import forwarding
from .upstream import Upstream

#: Fixed texts of the proxy's own error responses (never anything from the request).
MESSAGES = {
    400: "The preview port must be a number from 1 to 65535.",
    403: "Forbidden: log in to Jupyter to open previews.",
    404: "No such kernel.",
    405: "Method not allowed.",
    413: "The request body is too large for a preview.",
    502: "The kernel does not serve previews (it is not a Sandboxed Python kernel, or it "
         "has stopped).",
}


class PreviewHandler(websocket.WebSocketHandler, JupyterHandler):
    auth_resource = "kernels"
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

    _upstream_ws: websocket.WebSocketClientConnection | None = None
    _pending: list[str | bytes] | None = None

    # -- authentication ----------------------------------------------------------------------
    async def prepare(self) -> None:  # type: ignore[override]
        # 403 rather than a redirect to the login page, for every method and for upgrades.
        await JupyterHandler.prepare(self, _redirect_to_login=False)
        if self.current_user is None:
            raise web.HTTPError(403)
        if not self.authorizer.is_authorized(self, self.current_user, "execute", "kernels"):
            raise web.HTTPError(403)

    def check_xsrf_cookie(self) -> None:
        """Preview apps post their own forms, which cannot carry Jupyter's XSRF token, so
        instead of the token a cookie-authenticated request that changes state must come from
        the same origin (browsers send ``Origin`` with cross-site POSTs)."""
        if not hasattr(self, "_jupyter_current_user") or self.token_authenticated:
            return
        if self.request.headers.get("Origin") and not JupyterHandler.check_origin(self):
            raise web.HTTPError(403)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.clear_header("Content-Security-Policy")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        text = MESSAGES.get(status_code) or httputil.responses.get(status_code, "Error")
        self.finish(f"{status_code} {httputil.responses.get(status_code, '')}\n{text}\n")

    def compute_etag(self) -> None:
        return None

    # -- routing -----------------------------------------------------------------------------
    def _target(self, kernel_id: str, port: str) -> tuple[str, int, str, str]:
        """(socket path, port, public prefix, path below it) or an HTTPError."""
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise web.HTTPError(400)
        manager = self.kernel_manager
        if kernel_id not in manager:
            raise web.HTTPError(404)
        connection_file = manager.get_kernel(kernel_id).connection_file
        sock = str(socket_path_for(connection_file))
        if not os.path.exists(sock):
            raise web.HTTPError(502)
        # The raw (still percent-encoded) path below the port, as the browser sent it.
        raw = self.request.path
        head = f"{self.base_url}sandbox/preview/"
        _kid, _port, *tail = raw[len(head):].split("/", 2)
        below = "/" + tail[0] if tail else ""
        prefix = f"{head}{_kid}/{_port}"
        return sock, int(port), prefix, below

    def _forwarded(self, prefix: str) -> list[tuple[str, str]]:
        jupyter_cookies = {self.identity_provider.get_cookie_name(self)}
        return forwarding.request_headers(
            list(self.request.headers.get_all()), jupyter_cookies, prefix=prefix,
            host=self.request.host, proto=self.request.protocol,
            client_ip=self.request.remote_ip or "")

    # -- HTTP ----------------------------------------------------------------------------------
    async def get(self, kernel_id: str, port: str, path: str | None = None) -> None:  # type: ignore[override]
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            await self._websocket(kernel_id, port)
        else:
            await self._http(kernel_id, port)

    async def _http(self, kernel_id: str, port: str, path: str | None = None) -> None:
        sock, port_number, prefix, below = self._target(kernel_id, port)
        query = forwarding.strip_token(self.request.query)
        if not below:  # /sandbox/preview/<id>/8000 → …/8000/, so relative links work
            self.redirect(prefix + "/" + (f"?{query}" if query else ""), permanent=False)
            return
        if len(self.request.body) > self.settings["jupyter_sandbox_max_body"]:
            raise web.HTTPError(413)
        upstream: Upstream = self.settings["jupyter_sandbox_upstream"]
        url = upstream.url(kernel_id, sock, f"/preview/{port_number}{below}"
                           + (f"?{query}" if query else ""))
        relay = _ResponseRelay(self, prefix, port_number)
        method = self.request.method or "GET"
        body = self.request.body if method not in ("GET", "HEAD", "OPTIONS") or self.request.body else None
        try:
            response = await upstream.fetch(url, method=method, headers=self._forwarded(prefix),
                                            body=body, header_callback=relay.on_header_line,
                                            streaming_callback=relay.on_chunk)
            error = response.error if response.code == 599 else None
        except (OSError, httpclient.HTTPClientError) as exc:
            error = exc
        if relay.closed:
            return
        if not relay.started:
            self.log.warning("preview: kernel %s did not answer: %s", kernel_id, error)
            raise web.HTTPError(502)
        if error is not None:  # cut off mid-stream: the browser must see it cut off too
            self.log.warning("preview: kernel %s ended a response early: %s", kernel_id, error)
            if self.request.connection is not None:
                self.request.connection.close()
            self._finished = True
            return
        self.finish()

    head = post = put = delete = patch = options = _http  # type: ignore[assignment]

    # -- WebSocket -----------------------------------------------------------------------------
    async def _websocket(self, kernel_id: str, port: str) -> None:
        sock, port_number, prefix, below = self._target(kernel_id, port)
        query = forwarding.strip_token(self.request.query)
        upstream: Upstream = self.settings["jupyter_sandbox_upstream"]
        url = upstream.url(kernel_id, sock, f"/preview-ws/{port_number}{below or '/'}"
                           + (f"?{query}" if query else ""), scheme="ws")
        headers = [(k, v) for k, v in self._forwarded(prefix)
                   if not k.lower().startswith("sec-websocket-")]
        protocols = [p.strip() for p in
                     self.request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        self._pending = []
        try:
            self._upstream_ws = await upstream.websocket(url, headers, protocols or None,
                                                         self._from_app)
        except Exception as exc:  # noqa: BLE001 - the kernel refused: pass its status on
            code = getattr(exc, "code", 502)
            self.log.info("preview WebSocket to kernel %s refused: %s", kernel_id, exc)
            raise web.HTTPError(code if code in (403, 404, 501, 502, 503, 504) else 502) from exc
        await super().get(kernel_id, port)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        upstream = self._upstream_ws
        return upstream.selected_subprotocol if upstream is not None else None

    def open(self, *args: Any, **kwargs: Any) -> None:
        pending, self._pending = self._pending or [], None
        for message in pending:
            self._from_app(message)

    def _from_app(self, message: str | bytes | None) -> None:
        if self._pending is not None and message is not None:
            self._pending.append(message)
            return
        if message is None:
            upstream = self._upstream_ws
            code = upstream.close_code if upstream is not None else None
            reason = upstream.close_reason if upstream is not None else None
            self.close(code or 1000, reason)
            return
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except websocket.WebSocketClosedError:
            pass  # the browser left; on_close closes the app's side

    async def on_message(self, message: str | bytes) -> None:
        upstream = self._upstream_ws
        if upstream is not None:
            try:
                await upstream.write_message(message, binary=isinstance(message, bytes))
            except websocket.WebSocketClosedError:
                self.close(1011)

    def on_close(self) -> None:
        upstream, self._upstream_ws = self._upstream_ws, None
        if upstream is not None:
            upstream.close(self.close_code or 1000, self.close_reason)


class _ResponseRelay:
    """Passes the kernel's response through as it arrives: status and headers (rewritten)
    once the header block is complete, then each body chunk with a flush."""

    def __init__(self, handler: PreviewHandler, prefix: str, port: int) -> None:
        self.handler = handler
        self.prefix = prefix
        self.port = port
        self.lines: list[str] = []
        self.started = False
        self.closed = False

    def on_header_line(self, line: str) -> None:
        if line.strip():
            self.lines.append(line)
            return
        start = httputil.parse_response_start_line(self.lines[0].strip())
        headers = httputil.HTTPHeaders.parse("".join(self.lines[1:]))
        self.lines = []
        if 100 <= start.code < 200:
            return
        handler = self.handler
        handler.clear_header("Content-Type")
        handler.set_status(start.code, start.reason or "Status")
        items = forwarding.response_headers(
            list(headers.get_all()), prefix=self.prefix, host=handler.request.host,
            proto=handler.request.protocol, port=self.port)
        seen: set[str] = set()
        for name, value in items:
            if name.lower() in seen:
                handler.add_header(name, value)
            else:
                seen.add(name.lower())
                handler.set_header(name, value)
        self.started = True

    def on_chunk(self, chunk: bytes) -> None:
        if self.closed:
            return
        try:
            self.handler.write(chunk)
            self.handler.flush().add_done_callback(_consume)
        except iostream.StreamClosedError:
            self.closed = True


def _consume(future: Any) -> None:
    """A flush that failed because the browser left: nothing to do (not an unhandled error)."""
    if not future.cancelled():
        future.exception()
