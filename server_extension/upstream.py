"""Connections from the Jupyter server to kernels' control sockets (HTTP over Unix sockets),
with tornado's client: ``http://<kernel_id>.sandbox/...`` resolves to that kernel's socket."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from tornado import httpclient, netutil, websocket
from tornado.simple_httpclient import SimpleAsyncHTTPClient

UPSTREAM_HOST_SUFFIX = ".sandbox"


class UnixResolver(netutil.Resolver):
    """Resolves ``<kernel_id>.sandbox`` to the kernel's registered socket path."""

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


class Upstream:
    """One HTTP client for all kernels' control sockets."""

    def __init__(self, *, max_clients: int, connect_timeout: float, max_body_size: int) -> None:
        self.resolver = UnixResolver()
        self.connect_timeout = connect_timeout
        self.max_body_size = max_body_size
        self.client = SimpleAsyncHTTPClient(force_instance=True, resolver=self.resolver,
                                            max_clients=max_clients,
                                            max_body_size=max_body_size * 2 + (1 << 20))

    def url(self, kernel_id: str, socket_path: str, path_and_query: str,
            scheme: str = "http") -> str:
        host = kernel_id + UPSTREAM_HOST_SUFFIX
        self.resolver.sockets[host] = socket_path
        return f"{scheme}://{host}{path_and_query}"

    def fetch(self, url: str, *, method: str, headers: list[tuple[str, str]], body: bytes | None,
              header_callback: Callable[[str], None],
              streaming_callback: Callable[[bytes], None]) -> Any:
        request = httpclient.HTTPRequest(
            url, method=method, headers=_headers(headers), body=body,
            allow_nonstandard_methods=True, follow_redirects=False, decompress_response=False,
            connect_timeout=self.connect_timeout, request_timeout=0,
            header_callback=header_callback, streaming_callback=streaming_callback)
        return self.client.fetch(request, raise_error=False)

    async def websocket(self, url: str, headers: list[tuple[str, str]],
                        subprotocols: list[str] | None,
                        on_message: Callable[[str | bytes | None], None]
                        ) -> websocket.WebSocketClientConnection:
        request = httpclient.HTTPRequest(url, headers=_headers(headers),
                                         connect_timeout=self.connect_timeout, request_timeout=0)
        return await websocket.websocket_connect(
            request, on_message_callback=on_message, subprotocols=subprotocols,
            resolver=self.resolver, max_message_size=self.max_body_size)


def _headers(items: list[tuple[str, str]]) -> Any:
    from tornado.httputil import HTTPHeaders

    headers = HTTPHeaders()
    for name, value in items:
        headers.add(name, value)
    return headers
