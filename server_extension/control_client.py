"""The Jupyter server's one client for the control sockets of sandboxed kernels.

Each Sandboxed Python kernel serves HTTP on a Unix socket beside its connection file (routes in
``kernel/control_protocol.py``). Everything in the extension that talks to a kernel — the
preview proxy, the kernel API handlers (files, previews, snapshots, status), the sandbox
service under ``sandbox/api/v1`` and the checkpoints — uses the one ``ControlClient`` the
extension app creates (``settings["jupyter_sandbox_control"]``) and closes in
``stop_extension``.

* A kernel is addressed by its id: ``http://<kernel_id>.sandbox/...`` is resolved to its
  socket, for the server's kernels only (``socket_for``).
* A kernel that is still starting answers ``kernel_info`` (JupyterLab then shows it idle) a
  moment before its control socket listens, and a busy machine can take many seconds: every
  call waits up to ``startup_wait`` seconds for the socket of a sandboxed kernel the server
  knows (``wait_for_socket``) rather than answering 404 to a client that asked too early.
* Two connection pools share the resolver: one for preview traffic (browsers' requests to apps
  the guest serves, streamed and often held open — server-sent events, long polls — bounded by
  ``max_preview_connections``) and one for the server's own calls (status, files, snapshots up
  to ``MAX_SNAPSHOT_BYTES``, exec). Guest-driven traffic can so never starve the calls that
  list, snapshot or stop the sandbox.
* An error answer of the kernel, or no answer, raises ``ControlError``: an ``APIError`` with the
  status, code, message and hint of the kernel's error envelope (the protocol's ``ErrorBody``),
  or 502 when the kernel did not answer — so a handler that lets it rise answers its client
  with the kernel's error in the same envelope.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

from tornado import httpclient, httputil, netutil, websocket
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from jupyter_sandbox.kernel.control_protocol import MAX_SNAPSHOT_BYTES, socket_path_for

from .errors import APIError

#: Host names ``<kernel_id>.sandbox`` stand for that kernel's control socket.
HOST_SUFFIX = ".sandbox"
#: Seconds a call waits for the control socket of a sandboxed kernel that is still starting.
STARTUP_WAIT = 60.0

OnHeaders = Callable[[int, str, httputil.HTTPHeaders], None]
OnChunk = Callable[[bytes], None]


class ControlError(APIError):
    """A kernel's control endpoint answered with an error, or not at all: ``status_code`` is
    the HTTP status the server answers its own client with (502 when the kernel did not
    answer), ``code``, ``message`` and ``hint`` what the kernel said."""

    @property
    def status(self) -> int:
        return self.status_code

    def __str__(self) -> str:
        return self.message


class ControlClientClosedError(RuntimeError):
    """The control client was used after ``close()``: the server is stopping."""

    def __init__(self) -> None:
        super().__init__("the sandbox control client is closed (the Jupyter server is "
                         "stopping); retry once the server runs again")


class _UnixResolver(netutil.Resolver):
    """Resolves ``<kernel_id>.sandbox`` to the kernel's socket path, as ``socket_for`` found it."""

    def initialize(self) -> None:
        self.sockets: dict[str, str] = {}

    def close(self) -> None:
        self.sockets.clear()

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
                      ) -> list[tuple[int, Any]]:
        path = self.sockets.get(host)
        if path is None:
            raise OSError(f"no control socket registered for {host!r}")
        return [(socket.AF_UNIX, path)]


class _HeaderBlock:
    """Collects tornado's ``header_callback`` lines into (status, reason, headers) once per
    final (not 1xx) header block."""

    def __init__(self, on_headers: OnHeaders) -> None:
        self.on_headers = on_headers
        self.lines: list[str] = []
        self.status = 0

    def __call__(self, line: str) -> None:
        if line.strip():
            self.lines.append(line)
            return
        start = httputil.parse_response_start_line(self.lines[0].strip())
        headers = httputil.HTTPHeaders.parse("".join(self.lines[1:]))
        self.lines = []
        if 100 <= start.code < 200:
            return
        self.status = start.code
        self.on_headers(start.code, start.reason, headers)


class ControlClient:
    """HTTP and WebSockets to every sandboxed kernel's control socket. ``close()`` is safe to
    call twice; calls after it raise ``ControlClientClosedError``."""

    def __init__(self, kernel_manager: Any, *, connect_timeout: float = 10.0,
                 request_timeout: float = 3600.0, startup_wait: float = STARTUP_WAIT,
                 max_preview_connections: int = 64, max_preview_body: int = 64 << 20,
                 max_control_connections: int = 256) -> None:
        self.kernel_manager = kernel_manager
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.startup_wait = startup_wait
        self.max_preview_body = max_preview_body
        self._resolver = _UnixResolver()
        # A preview body may arrive chunked with framing; the proxy checks the exact limit.
        self._previews = SimpleAsyncHTTPClient(
            force_instance=True, resolver=self._resolver, max_clients=max_preview_connections,
            max_body_size=max_preview_body * 2 + (1 << 20))
        self._control = SimpleAsyncHTTPClient(
            force_instance=True, resolver=self._resolver, max_clients=max_control_connections,
            max_body_size=MAX_SNAPSHOT_BYTES)
        self._closed = False

    # -- finding a kernel's socket ---------------------------------------------------------
    def socket_for(self, kernel_id: str) -> str | None:
        """The control socket of the server's kernel ``kernel_id`` if it listens now; None
        when the kernel is unknown, not sandboxed or not (yet) serving."""
        if kernel_id not in self.kernel_manager:
            self._resolver.sockets.pop(kernel_id + HOST_SUFFIX, None)
            return None
        connection_file = self.kernel_manager.get_kernel(kernel_id).connection_file
        sock = str(socket_path_for(connection_file))
        return sock if os.path.exists(sock) else None

    def is_sandboxed(self, kernel_id: str) -> bool:
        """Whether the server's kernel ``kernel_id`` is a Sandboxed Python kernel (its
        kernelspec says ``"sandboxed": true``), so its control socket will appear."""
        try:
            spec = self.kernel_manager.get_kernel(kernel_id).kernel_spec
        except (KeyError, OSError, ValueError) as exc:  # unknown, or its spec is gone
            self.kernel_manager.log.debug("jupyter_sandbox: no kernelspec for %s: %s",
                                          kernel_id, exc)
            return False
        return bool(spec is not None and (spec.metadata or {}).get("sandboxed"))

    async def _has_exited(self, kernel_id: str) -> bool:
        """Whether the kernel's process was started and is gone (no socket will come)."""
        kernel = self.kernel_manager.get_kernel(kernel_id)
        if not getattr(kernel, "has_kernel", False):
            return False  # not launched yet (pending kernels): keep waiting
        alive = kernel.is_alive()
        if asyncio.iscoroutine(alive):
            alive = await alive
        return not alive

    async def wait_for_socket(self, kernel_id: str) -> str | None:
        """The kernel's control socket, waiting up to ``startup_wait`` seconds while a
        sandboxed kernel the server knows is still starting; None when there is none."""
        sock = self.socket_for(kernel_id)
        if sock is not None or kernel_id not in self.kernel_manager \
                or not self.is_sandboxed(kernel_id):
            return sock
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_wait
        while sock is None and kernel_id in self.kernel_manager and loop.time() < deadline:
            if await self._has_exited(kernel_id):
                break
            await asyncio.sleep(0.1)
            sock = self.socket_for(kernel_id)
        return sock

    async def _url(self, kernel_id: str, path_and_query: str, scheme: str = "http") -> str:
        """``<scheme>://<kernel_id>.sandbox<path>`` once the kernel's socket listens;
        ``ControlError`` 404 when the server runs no such sandboxed kernel."""
        if self._closed:
            raise ControlClientClosedError
        sock = await self.wait_for_socket(kernel_id)
        if sock is None:
            raise ControlError(404, "no running sandboxed kernel with this id", "not_found",
                               hint="GET api/kernels lists the server's kernels; start one "
                                    "with the Sandboxed Python kernelspec (sandboxed-python)")
        host = kernel_id + HOST_SUFFIX
        self._resolver.sockets[host] = sock
        return f"{scheme}://{host}{path_and_query}"

    # -- calls -------------------------------------------------------------------------------
    async def request(self, kernel_id: str, method: str, path: str, body: bytes | None = None,
                      *, timeout: float | None = None) -> httpclient.HTTPResponse:
        """The kernel's answer to one call (whole body); ``ControlError`` on an error."""
        url = await self._url(kernel_id, path)
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        request = httpclient.HTTPRequest(
            url, method=method, body=body, allow_nonstandard_methods=True,
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout if timeout is None else timeout)
        response = await self._fetch_control(request)
        if response.code >= 400:
            raise _error(response.code, bytes(response.body or b""))
        return response

    async def json(self, kernel_id: str, method: str, path: str, body: Any = None) -> Any:
        """The kernel's JSON answer (None for an empty one); ``body`` is sent as JSON."""
        data = None if body is None else json.dumps(body).encode()
        response = await self.request(kernel_id, method, path, data)
        return json.loads(response.body) if response.body else None

    async def stream(self, kernel_id: str, method: str, path: str, body: bytes | None,
                     on_headers: OnHeaders, on_chunk: OnChunk) -> int:
        """Pass a successful answer on as it arrives: ``on_headers`` once, then each body
        chunk to ``on_chunk``. An error answer raises ``ControlError`` before anything is
        passed on. Returns the final status (>= 400 when the answer broke off after it began)."""
        url = await self._url(kernel_id, path)
        error_body: list[bytes] = []
        started = False

        def begin(status: int, reason: str, fields: httputil.HTTPHeaders) -> None:
            nonlocal started
            if status < 400:
                started = True
                on_headers(status, reason, fields)

        def chunk(data: bytes) -> None:
            if started:
                on_chunk(data)
            else:
                error_body.append(data)

        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        request = httpclient.HTTPRequest(
            url, method=method, body=body, allow_nonstandard_methods=True,
            connect_timeout=self.connect_timeout, request_timeout=self.request_timeout,
            header_callback=_HeaderBlock(begin), streaming_callback=chunk)
        response = await self._fetch_control(request)
        if not started:
            if response.code >= 400:
                raise _error(response.code, b"".join(error_body))
            on_headers(response.code, response.reason, response.headers)
        return response.code

    async def _fetch_control(self, request: httpclient.HTTPRequest) -> httpclient.HTTPResponse:
        """One call on the control pool. ``raise_error=False`` still raises for transport
        failures (a kernel that died mid-answer closes the socket: ``HTTPStreamClosedError``;
        a refused or vanished socket: ``OSError``); those become the 502 ``ControlError`` of a
        kernel that did not answer, instead of an unhandled 500."""
        try:
            return await self._control.fetch(request, raise_error=False)
        except (OSError, httpclient.HTTPClientError) as exc:
            self.kernel_manager.log.debug("jupyter_sandbox: control call %s %s failed: %s",
                                          request.method, request.url, exc)
            raise _error(599, b"") from exc

    async def relay(self, kernel_id: str, method: str, path: str, *,
                    headers: list[tuple[str, str]], body: bytes | None,
                    on_headers: OnHeaders, on_chunk: OnChunk) -> BaseException | None:
        """Preview traffic: pass the app's answer on as it arrives, whatever its status (an
        app's 404 is its answer). No time limit (apps stream events). Returns the transport
        error when the kernel did not answer or broke off mid-answer, else None."""
        url = await self._url(kernel_id, path)
        request = httpclient.HTTPRequest(
            url, method=method, headers=_headers(headers), body=body,
            allow_nonstandard_methods=True, follow_redirects=False, decompress_response=False,
            connect_timeout=self.connect_timeout, request_timeout=0,
            header_callback=_HeaderBlock(on_headers), streaming_callback=on_chunk)
        try:
            response = await self._previews.fetch(request, raise_error=False)
        except (OSError, httpclient.HTTPClientError) as exc:
            return exc
        return response.error if response.code == 599 else None

    async def websocket(self, kernel_id: str, path: str, headers: list[tuple[str, str]],
                        subprotocols: list[str] | None,
                        on_message: Callable[[str | bytes | None], None]
                        ) -> websocket.WebSocketClientConnection:
        """A WebSocket to ``path`` on the kernel's socket (messages up to the preview body
        limit); ``on_message`` gets each message, then None when it closes."""
        url = await self._url(kernel_id, path, scheme="ws")
        request = httpclient.HTTPRequest(url, headers=_headers(headers),
                                         connect_timeout=self.connect_timeout, request_timeout=0)
        return await websocket.websocket_connect(
            request, on_message_callback=on_message, subprotocols=subprotocols,
            resolver=self._resolver, max_message_size=self.max_preview_body)

    def close(self) -> None:
        """Close both connection pools (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._previews.close()
        self._control.close()
        self._resolver.close()


def quote_path(path: str) -> str:
    """A path segment for a control route: every reserved character escaped."""
    return urllib.parse.quote(path, safe="")


def _headers(items: list[tuple[str, str]]) -> httputil.HTTPHeaders:
    headers = httputil.HTTPHeaders()
    for name, value in items:
        headers.add(name, value)
    return headers


def _error(status: int, body: bytes) -> ControlError:
    """The ``ControlError`` of a kernel's error answer (its envelope), or of no answer (599)."""
    if status == 599:
        return ControlError(502, "the sandbox's kernel did not answer (it may have died)")
    try:
        answer = json.loads(body)
        output = answer.get("output")
        return ControlError(status, str(answer["message"]), str(answer.get("code") or "") or None,
                            str(answer["hint"]) if isinstance(answer.get("hint"), str) else None,
                            output if isinstance(output, list) else None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return ControlError(status, f"the sandbox's kernel answered HTTP {status} without "
                                    "an error message")
