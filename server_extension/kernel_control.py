"""Asking a sandboxed kernel for snapshots over its control socket (for checkpoints and the
snapshot REST API). Whole snapshots can be large, so this client has its own body limit."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from tornado import httpclient
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from jupyter_sandbox.kernel.control_protocol import MAX_SNAPSHOT_BYTES, socket_path_for

from .upstream import UPSTREAM_HOST_SUFFIX, UnixResolver


class KernelControlError(RuntimeError):
    """The kernel answered with an error; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: Seconds a request waits for the control socket of a kernel that is still starting (a
#: Sandboxed Python kernel on a busy machine can take many seconds to open it).
STARTUP_WAIT = 60.0


class KernelControl:
    """One client for the snapshot routes of every kernel's control socket."""

    def __init__(self, kernel_manager: Any, request_timeout: float = 600.0,
                 startup_wait: float = STARTUP_WAIT) -> None:
        self.kernel_manager = kernel_manager
        self.request_timeout = request_timeout
        self.startup_wait = startup_wait
        self._resolver = UnixResolver()
        self._client = SimpleAsyncHTTPClient(force_instance=True, resolver=self._resolver,
                                             max_body_size=MAX_SNAPSHOT_BYTES)

    def socket_for(self, kernel_id: str) -> str | None:
        """The kernel's control socket, or None when the kernel is unknown or not sandboxed."""
        if kernel_id not in self.kernel_manager:
            return None
        connection_file = self.kernel_manager.get_kernel(kernel_id).connection_file
        sock = str(socket_path_for(connection_file))
        return sock if os.path.exists(sock) else None

    def _is_sandboxed(self, kernel_id: str) -> bool:
        """Whether the server's kernel ``kernel_id`` is a Sandboxed Python kernel (its
        kernelspec says ``"sandboxed": true``), so its control socket will appear."""
        try:
            spec = self.kernel_manager.get_kernel(kernel_id).kernel_spec
        except (KeyError, OSError, ValueError) as exc:  # unknown, or its spec is gone
            self.kernel_manager.log.debug("jupyter_sandbox: no kernelspec for %s: %s",
                                          kernel_id, exc)
            return False
        return bool(spec is not None and (spec.metadata or {}).get("sandboxed"))

    async def wait_for_socket(self, kernel_id: str) -> str | None:
        """The kernel's control socket, waiting up to ``startup_wait`` seconds while a
        sandboxed kernel the server knows is still starting; None when there is none."""
        sock = self.socket_for(kernel_id)
        if sock is not None or kernel_id not in self.kernel_manager \
                or not self._is_sandboxed(kernel_id):
            return sock
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_wait
        while sock is None and kernel_id in self.kernel_manager and loop.time() < deadline:
            await asyncio.sleep(0.1)
            sock = self.socket_for(kernel_id)
        return sock

    async def request(self, kernel_id: str, method: str, path: str,
                      body: bytes | None = None) -> httpclient.HTTPResponse:
        sock = await self.wait_for_socket(kernel_id)
        if sock is None:
            raise KernelControlError(404, "no running sandboxed kernel with this id")
        host = kernel_id + UPSTREAM_HOST_SUFFIX
        self._resolver.sockets[host] = sock
        request = httpclient.HTTPRequest(
            f"http://{host}{path}", method=method, body=body,
            allow_nonstandard_methods=True, request_timeout=self.request_timeout)
        response = await self._client.fetch(request, raise_error=False)
        if response.code >= 400 or response.code == 599:
            raise KernelControlError(response.code if response.code != 599 else 502,
                                     _error_text(response))
        return response

    async def json(self, kernel_id: str, method: str, path: str) -> Any:
        response = await self.request(kernel_id, method, path,
                                      body=b"" if method in ("POST", "PUT") else None)
        return json.loads(response.body) if response.body else None

    async def snapshot(self, kernel_id: str) -> bytes:
        return bytes((await self.request(kernel_id, "GET", "/snapshot")).body)

    async def restore(self, kernel_id: str, data: bytes) -> None:
        await self.request(kernel_id, "PUT", "/snapshot", body=data)

    def close(self) -> None:
        self._client.close()


def _error_text(response: httpclient.HTTPResponse) -> str:
    try:
        return str(json.loads(response.body)["error"])
    except (ValueError, KeyError, TypeError):
        return f"the kernel's control endpoint answered {response.code}"
