"""HTTP to a sandbox kernel's control socket for the sandbox service: JSON calls and streamed
bodies (exec output, file downloads) that are passed on as they arrive."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from tornado import httpclient
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from jupyter_sandbox.kernel.control_protocol import MAX_SNAPSHOT_BYTES

from .kernel_control import KernelControl, KernelControlError
from .upstream import UPSTREAM_HOST_SUFFIX, UnixResolver


class KernelLink:
    """One HTTP client for the service routes of every sandbox kernel's control socket."""

    def __init__(self, control: KernelControl, request_timeout: float = 3600.0) -> None:
        self.control = control
        self.request_timeout = request_timeout
        self._resolver = UnixResolver()
        self._client = SimpleAsyncHTTPClient(force_instance=True, resolver=self._resolver,
                                             max_body_size=MAX_SNAPSHOT_BYTES, max_clients=256)

    def _request(self, kernel_id: str, method: str, path: str, body: bytes | None,
                 **kwargs: Any) -> httpclient.HTTPRequest:
        sock = self.control.socket_for(kernel_id)
        if sock is None:
            raise KernelControlError(404, "the sandbox's kernel is not running")
        host = kernel_id + UPSTREAM_HOST_SUFFIX
        self._resolver.sockets[host] = sock
        if body is None and method in ("POST", "PUT"):
            body = b""
        return httpclient.HTTPRequest(f"http://{host}{path}", method=method, body=body,
                                      allow_nonstandard_methods=True,
                                      request_timeout=self.request_timeout, **kwargs)

    async def call(self, kernel_id: str, method: str, path: str,
                   body: bytes | None = None) -> httpclient.HTTPResponse:
        """The kernel's answer; ``KernelControlError`` (with the kernel's status) on an error."""
        response = await self._client.fetch(self._request(kernel_id, method, path, body),
                                            raise_error=False)
        if response.code >= 400:
            raise _error(response.code, bytes(response.body or b""))
        return response

    async def json(self, kernel_id: str, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        response = await self.call(kernel_id, method, path, data)
        return json.loads(response.body) if response.body else None

    async def stream(self, kernel_id: str, method: str, path: str, body: bytes | None,
                     on_headers: Callable[[int, dict[str, str]], None],
                     on_chunk: Callable[[bytes], None]) -> int:
        """Pass the body of a successful answer to ``on_chunk`` as it arrives (after
        ``on_headers``); an error answer raises ``KernelControlError`` before any chunk.
        Returns the final status (>= 400 when the answer broke off after it began)."""
        state: dict[str, Any] = {"status": 0, "headers": {}, "started": False, "error": []}

        def header_line(line: str) -> None:
            if line.startswith("HTTP/"):
                state["status"] = int(line.split()[1])
            elif ":" in line:
                name, value = line.split(":", 1)
                state["headers"][name.strip().lower()] = value.strip()

        def chunk(data: bytes) -> None:
            if state["status"] >= 400:
                state["error"].append(data)
                return
            if not state["started"]:
                state["started"] = True
                on_headers(state["status"], state["headers"])
            on_chunk(data)

        request = self._request(kernel_id, method, path, body, header_callback=header_line,
                                streaming_callback=chunk)
        response = await self._client.fetch(request, raise_error=False)
        if response.code >= 400 and not state["started"]:
            raise _error(response.code, b"".join(state["error"]))
        if not state["started"]:
            on_headers(response.code, state["headers"])
        return response.code

    def close(self) -> None:
        self._client.close()


def quote_path(path: str) -> str:
    return urllib.parse.quote(path, safe="")


def _error(status: int, body: bytes) -> KernelControlError:
    if status == 599:
        return KernelControlError(502, "the sandbox's kernel did not answer (it may have died)")
    try:
        answer = json.loads(body)
        return KernelControlError(status, str(answer["error"]))
    except (ValueError, KeyError, TypeError):
        return KernelControlError(status, f"the sandbox's kernel answered {status}")
