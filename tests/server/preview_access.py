"""Reaching a kernel's previews the way a browser would, in either mode of the server:

* shared origin: ``{server}/sandbox/preview/{kernel}/{port}/{path}`` with Jupyter's token;
* ``preview_host``: ``http://{port}-{kernel}.localhost:{server port}/{path}`` with the preview
  cookie, obtained as a browser does (the Jupyter-origin link → 302 with a one-time token →
  the preview origin sets the cookie).

``*.localhost`` names are sent to 127.0.0.1 by a transport (the Host header stays the preview
host), as browsers resolve them to loopback.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Generator
from dataclasses import dataclass, field

import httpx
from websockets.sync.client import ClientConnection, connect

from .conftest import Kernel

PREVIEW_COOKIE = "jupyter-sandbox-preview"


def _loopback(request: httpx.Request) -> None:
    if request.url.host.endswith(".localhost"):
        request.url = request.url.copy_with(host="127.0.0.1")


class LoopbackTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _loopback(request)
        return super().handle_request(request)


class AsyncLoopbackTransport(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _loopback(request)
        return await super().handle_async_request(request)


def set_cookie_value(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        first = header.split(";", 1)[0]
        if first.split("=", 1)[0].strip() == name:
            return first.split("=", 1)[1].strip()
    return None


def exchange(kernel: Kernel, port: int, path: str = "") -> tuple[str, httpx.Response]:
    """Open the Jupyter-origin link as a logged-in browser: (preview cookie value, the
    response of the preview origin's token exchange)."""
    with kernel.server.client(transport=LoopbackTransport()) as jupyter:
        link = jupyter.get(kernel.preview_url(port, path))
    assert link.status_code == 302, link.text
    with httpx.Client(transport=LoopbackTransport(), timeout=60) as browser:
        exchanged = browser.get(link.headers["location"])
    assert exchanged.status_code == 302, exchanged.text
    session = set_cookie_value(exchanged, PREVIEW_COOKIE)
    assert session, exchanged.headers
    return session, exchanged


class PreviewAuth(httpx.Auth):
    """Jupyter's token (shared origin) or the preview cookie of the request's host."""

    def __init__(self, access: PreviewAccess) -> None:
        self.access = access

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        port = self.access.port_of(request.url.host)
        if port is None:
            request.headers["Authorization"] = f"token {self.access.kernel.server.token}"
        else:
            cookie = f"{PREVIEW_COOKIE}={self.access.session(port)}"
            mine = request.headers.get("Cookie")
            request.headers["Cookie"] = f"{mine}; {cookie}" if mine else cookie
        yield request


@dataclass
class PreviewAccess:
    kernel: Kernel
    sessions: dict[int, str] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "preview-host" if self.kernel.server.preview_host else "shared-origin"

    @property
    def shared(self) -> bool:
        return not self.kernel.server.preview_host

    @property
    def id(self) -> str:
        return self.kernel.id

    @property
    def server_port(self) -> int:
        return int(urllib.parse.urlsplit(self.kernel.server.url).port or 80)

    def host(self, port: int) -> str:
        pattern = self.kernel.server.preview_host or ""
        return pattern.replace("{port}", str(port)).replace("{kernel}", self.kernel.id)

    def netloc(self, port: int) -> str:
        """Host and port a browser sends (``Host``) for the app on ``port``."""
        if self.shared:
            return urllib.parse.urlsplit(self.kernel.server.url).netloc
        return f"{self.host(port)}:{self.server_port}"

    def port_of(self, host: str) -> int | None:
        if self.shared or not host.endswith(".localhost"):
            return None
        label = host.split(".", 1)[0]
        number = label.split("-", 1)[0]
        return int(number) if number.isdigit() else None

    def prefix(self, port: int) -> str:
        """The path the app on ``port`` is published under ("" on its own origin)."""
        return "" if not self.shared else f"/sandbox/preview/{self.kernel.id}/{port}"

    def url(self, port: int, path: str = "") -> str:
        if self.shared:
            return self.kernel.preview_url(port, path)
        return f"http://{self.host(port)}:{self.server_port}/{path}"

    def ws_url(self, port: int, path: str = "") -> str:
        return self.url(port, path).replace("http://", "ws://", 1)

    def session(self, port: int) -> str:
        if port not in self.sessions:
            self.sessions[port] = exchange(self.kernel, port)[0]
        return self.sessions[port]

    def client(self, **kwargs) -> httpx.Client:
        """An authenticated client (the token, or the preview cookies)."""
        return httpx.Client(auth=PreviewAuth(self), transport=LoopbackTransport(),
                            timeout=kwargs.pop("timeout", 60), **kwargs)

    def async_client(self, **kwargs) -> httpx.AsyncClient:
        return httpx.AsyncClient(auth=PreviewAuth(self), transport=AsyncLoopbackTransport(
            limits=kwargs.pop("limits", httpx.Limits())), timeout=kwargs.pop("timeout", 60),
            **kwargs)

    def anonymous(self, **kwargs) -> httpx.Client:
        return httpx.Client(transport=LoopbackTransport(), timeout=60, **kwargs)

    def credentials(self, port: int) -> dict[str, str]:
        """Headers that authenticate a raw client (WebSocket) for ``port``."""
        if self.shared:
            return {"Authorization": f"token {self.kernel.server.token}"}
        return {"Cookie": f"{PREVIEW_COOKIE}={self.session(port)}"}

    def ws(self, port: int, path: str = "", *, headers: dict[str, str] | None = None,
           authenticated: bool = True, **kwargs) -> ClientConnection:
        """A WebSocket to the app on ``port`` (over 127.0.0.1, the Host header the preview's)."""
        sent = {**(self.credentials(port) if authenticated else {}), **(headers or {})}
        sock = socket.create_connection(("127.0.0.1", self.server_port), timeout=60)
        return connect(self.ws_url(port, path), sock=sock, additional_headers=sent, **kwargs)


MODES = ["shared-origin", "preview-host"]


def server_for(request) -> object:
    """The session server of a ``MODES`` parameter."""
    return request.getfixturevalue(
        "jupyter_server" if request.param == "shared-origin" else "preview_host_server")


def jupyter_login_cookie(server) -> str:
    """``name=value`` of Jupyter's login cookie, as a browser holds it after logging in."""
    with httpx.Client(timeout=60) as client:
        response = client.get(f"{server.url}api/status?token={server.token}")
    for header in response.headers.get_list("set-cookie"):
        first = header.split(";", 1)[0]
        if first.startswith("username-"):
            return first
    raise AssertionError(f"Jupyter set no login cookie: {response.headers}")
