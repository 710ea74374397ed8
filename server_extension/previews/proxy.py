"""The preview proxy itself: one request (any method) or one WebSocket, relayed to the app a
kernel serves on a port, through the kernel's control socket. Subclasses decide who may use it
(``prepare``) and where the app is published (``preview_target``, ``forwarding_rules``):

* ``link.PreviewLinkHandler`` — ``{base_url}sandbox/preview/{kernel}/{port}/...`` on
  the Jupyter origin (shared-origin mode), behind Jupyter's login;
* ``capability.PreviewCapabilityHandler`` — ``.../{port}/~{capability}/...`` on the
  Jupyter origin (shared-origin mode), for holders of the capability in the path;
* ``origin.PreviewOriginHandler`` — every path of a preview host (``preview_host``
  mode), behind the preview origin's cookie.

A WebSocket upgrade is authenticated (``prepare``), its handshake and ``Origin`` checked, and
only then is the kernel contacted: no guest code runs for a refused upgrade. Error pages are
fixed texts that never echo the request.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

from tornado import httputil, iostream, web, websocket
from tornado.http1connection import HTTP1Connection

from ..control_client import ControlClient, ControlError
from . import forwarding

log = logging.getLogger("jupyter_sandbox.previews")

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
_WEBSOCKET_VERSIONS = {"7", "8", "13"}


@dataclass(frozen=True)
class PreviewTarget:
    kernel_id: str
    port: int
    #: The public path the app is mounted at ("" on a preview origin: the app is at "/").
    prefix: str
    #: The raw (still percent-encoded) path below the prefix, "" for the prefix itself.
    below: str
    #: The link route's prefix when the app is mounted below a capability under it (shared
    #: origin): app redirects to the link prefix are moved below the capability.
    link_prefix: str = ""


class PreviewProxyHandler(websocket.WebSocketHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    #: Whether this is the shared (Jupyter) origin: sandbox CSP, no cookies either way.
    shared_origin = True
    messages = MESSAGES

    _upstream_ws: websocket.WebSocketClientConnection | None = None
    _pending: list[str | bytes] | None = None

    # -- what subclasses provide ---------------------------------------------------------------
    def preview_target(self, *args: Any, **kwargs: Any) -> PreviewTarget:
        raise NotImplementedError

    def forwarding_rules(self, target: PreviewTarget) -> forwarding.ForwardingRules:
        return forwarding.ForwardingRules(
            prefix=target.prefix, host=self.request.host, proto=self.request.protocol,
            client_ip=self.request.remote_ip or "", shared_origin=self.shared_origin)

    def on_cookies_dropped(self, target: PreviewTarget) -> None:
        """The app sent Set-Cookie on the shared origin (they were dropped)."""

    # -- common --------------------------------------------------------------------------------
    @property
    def proxy_log(self) -> logging.Logger:
        return self.settings.get("jupyter_sandbox_log") or log

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.clear_header("Set-Cookie")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        text = self.messages.get(status_code) or httputil.responses.get(status_code, "Error")
        self.finish(f"{status_code} {httputil.responses.get(status_code, '')}\n{text}\n")

    def compute_etag(self) -> None:
        return None

    @property
    def control(self) -> ControlClient:
        return self.settings["jupyter_sandbox_control"]

    async def kernel_socket(self, kernel_id: str) -> str:
        """The control socket of a running kernel (waiting while a sandboxed kernel starts),
        or an HTTPError: 404 no such kernel, 502 it serves no previews."""
        if kernel_id not in self.settings["kernel_manager"]:
            raise web.HTTPError(404)
        sock = await self.control.wait_for_socket(kernel_id)
        if sock is None:
            raise web.HTTPError(502)
        return sock

    def check_origin(self, origin: str) -> bool:
        """A browser's WebSocket must come from the page's own origin: the preview's own (a
        preview origin) or the Jupyter origin (shared). Whatever authenticated the upgrade — a
        cookie, even a token — a foreign ``Origin`` is refused."""
        return urllib.parse.urlsplit(origin).netloc.lower() == self.request.host.lower()

    # -- HTTP ----------------------------------------------------------------------------------
    async def get(self, *args: str, **kwargs: str) -> None:
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            await self._websocket(*args, **kwargs)
        else:
            await self._http(*args, **kwargs)

    async def _http(self, *args: str, **kwargs: str) -> None:
        target = self.preview_target(*args, **kwargs)
        await self.kernel_socket(target.kernel_id)
        query = forwarding.strip_token(self.request.query)
        if not target.below:  # /sandbox/preview/<id>/8000 → …/8000/, so relative links work
            self.redirect(target.prefix + "/" + (f"?{query}" if query else ""), permanent=False)
            return
        if len(self.request.body) > self.settings["jupyter_sandbox_max_body"]:
            raise web.HTTPError(413)
        path = (f"/preview/{target.port}{forwarding.upstream_path(target.below)}"
                + (f"?{query}" if query else ""))
        relay = _ResponseRelay(self, target)
        method = self.request.method or "GET"
        with_body = method not in ("GET", "HEAD", "OPTIONS") or self.request.body
        body = self.request.body if with_body else None
        headers = forwarding.request_headers(list(self.request.headers.get_all()),
                                             self.forwarding_rules(target))
        try:
            error = await self.control.relay(target.kernel_id, method, path, headers=headers,
                                             body=body, on_headers=relay.on_headers,
                                             on_chunk=relay.on_chunk)
        except ControlError as exc:  # the kernel went away since kernel_socket
            error = exc
        if relay.closed:
            return
        if not relay.started:
            self.proxy_log.warning("preview: kernel %s did not answer: %s", target.kernel_id, error)
            raise web.HTTPError(502)
        if error is not None:  # cut off mid-stream: the browser must see it cut off too
            self.proxy_log.warning("preview: kernel %s ended a response early: %s",
                                   target.kernel_id, error)
            if isinstance(self.request.connection, HTTP1Connection):
                self.request.connection.close()
            self._finished = True
            return
        self.finish()

    head = post = put = delete = patch = options = _http

    # -- WebSocket -----------------------------------------------------------------------------
    def _check_handshake(self) -> None:
        """Refuse a bad or cross-origin upgrade before the kernel hears of it."""
        headers = self.request.headers
        if ("upgrade" not in headers.get("Connection", "").lower()
                or not headers.get("Sec-WebSocket-Key")
                or headers.get("Sec-WebSocket-Version") not in _WEBSOCKET_VERSIONS):
            raise web.HTTPError(400)
        origin = headers.get("Origin") or headers.get("Sec-WebSocket-Origin")
        if origin is not None and not self.check_origin(origin):
            self.proxy_log.warning("preview: refused a WebSocket from origin %r for %s",
                                   origin[:200], self.request.host)
            raise web.HTTPError(403)

    async def _websocket(self, *args: str, **kwargs: str) -> None:
        target = self.preview_target(*args, **kwargs)
        self._check_handshake()
        await self.kernel_socket(target.kernel_id)
        query = forwarding.strip_token(self.request.query)
        path = (f"/preview-ws/{target.port}{forwarding.upstream_path(target.below or '/')}"
                + (f"?{query}" if query else ""))
        headers = [(k, v) for k, v in forwarding.request_headers(
                       list(self.request.headers.get_all()), self.forwarding_rules(target))
                   if not k.lower().startswith("sec-websocket-")]
        protocols = [p.strip() for p in
                     self.request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        self._pending = []
        try:
            self._upstream_ws = await self.control.websocket(target.kernel_id, path, headers,
                                                             protocols or None, self._from_app)
        except Exception as exc:
            # The kernel's handshake answer (tornado's HTTPClientError.code), or our own
            # ControlError's status (its .code is the envelope's word, not a number).
            code = exc.status if isinstance(exc, ControlError) else getattr(exc, "code", 502)
            self.proxy_log.info("preview WebSocket to kernel %s refused: %s", target.kernel_id, exc)
            raise web.HTTPError(code if code in (403, 404, 501, 502, 503, 504) else 502) from exc
        await websocket.WebSocketHandler.get(self, *args, **kwargs)

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
            self.proxy_log.debug("preview: the browser left before an app message")

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

    def __init__(self, handler: PreviewProxyHandler, target: PreviewTarget) -> None:
        self.handler = handler
        self.target = target
        self.started = False
        self.closed = False

    def on_headers(self, code: int, reason: str, headers: httputil.HTTPHeaders) -> None:
        handler = self.handler
        handler.clear_header("Content-Type")
        handler.set_status(code, reason or "Status")
        rewritten = forwarding.response_headers(
            list(headers.get_all()), prefix=self.target.prefix, host=handler.request.host,
            proto=handler.request.protocol, port=self.target.port,
            shared_origin=handler.shared_origin, link_prefix=self.target.link_prefix)
        if rewritten.dropped_cookies:
            handler.on_cookies_dropped(self.target)
        # Policies are added, never replaced: the browser enforces each of them (Jupyter's
        # default, the app's, the sandbox).
        seen: set[str] = {"content-security-policy"}
        for name, value in rewritten.items:
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
