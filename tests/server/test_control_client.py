"""``ControlClient``, the server's one client for kernels' control sockets, against a real
tornado HTTP server on a real Unix socket: it waits for the socket of a sandboxed kernel that is
still starting, stops waiting once that kernel's process has exited, turns the kernel's error
envelope into ``ControlError``, and is closed (with the service's idle reaper) when the
extension stops."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from jupyter_sandbox.kernel.control_protocol import error_body, socket_path_for
from jupyter_sandbox.server_extension.app import SandboxExtensionApp
from jupyter_sandbox.server_extension.control_client import (
    ControlClient,
    ControlClientClosedError,
    ControlError,
)
from jupyter_sandbox.server_extension.service.lifecycle import LifecyclePolicy
from jupyter_sandbox.server_extension.service.registry import SandboxLimits, SandboxRegistry


@dataclass
class FakeSpec:
    metadata: dict[str, Any]


@dataclass
class FakeKernel:
    """What the client reads of jupyter_server's kernel manager for one kernel."""

    connection_file: str
    kernel_spec: FakeSpec = field(default_factory=lambda: FakeSpec({"sandboxed": True}))
    has_kernel: bool = True
    alive: bool = True

    async def is_alive(self) -> bool:
        return self.alive


class FakeKernelManager(dict[str, FakeKernel]):
    log = logging.getLogger("test")

    def get_kernel(self, kernel_id: str) -> FakeKernel:
        return self[kernel_id]


class _Status(tornado.web.RequestHandler):
    def get(self) -> None:
        self.finish({"ok": True})


class _Refused(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_status(409)
        self.finish(json.dumps(error_body(409, "a folder", "is_a_folder", "add ?list")))


def _serve(sock: Path) -> tornado.httpserver.HTTPServer:
    server = tornado.httpserver.HTTPServer(tornado.web.Application(
        [(r"/status", _Status), (r"/refused", _Refused)]))
    server.add_sockets([tornado.netutil.bind_unix_socket(str(sock), mode=0o600)])
    return server


def test_waits_for_a_starting_kernel_then_passes_its_errors_on(tmp_path: Path) -> None:
    connection = tmp_path / "kernel-k1.json"
    manager = FakeKernelManager(k1=FakeKernel(str(connection)))

    async def run() -> None:
        client = ControlClient(manager, startup_wait=60)
        loop = asyncio.get_running_loop()
        servers: list[tornado.httpserver.HTTPServer] = []
        # The socket appears only after the first call began waiting for it.
        loop.call_later(0.3, lambda: servers.append(_serve(socket_path_for(connection))))
        try:
            assert await client.json("k1", "GET", "/status") == {"ok": True}
            with pytest.raises(ControlError) as refused:
                await client.request("k1", "GET", "/refused")
            error = refused.value
            assert (error.status, error.code, error.message, error.hint) == (
                409, "is_a_folder", "a folder", "add ?list")
            assert error.body["reason"] == "Conflict"
            with pytest.raises(ControlError) as unknown:
                await client.request("no-such-kernel", "GET", "/status")
            assert unknown.value.status == 404 and unknown.value.code == "not_found"
        finally:
            client.close()
            client.close()  # twice is fine
            for server in servers:
                server.stop()
        with pytest.raises(ControlClientClosedError):
            await client.request("k1", "GET", "/status")

    asyncio.run(run())


def test_stops_waiting_once_the_kernel_has_exited(tmp_path: Path) -> None:
    kernel = FakeKernel(str(tmp_path / "kernel-k2.json"), alive=False)
    manager = FakeKernelManager(k2=kernel)

    async def run() -> None:
        client = ControlClient(manager, startup_wait=3600)
        try:
            # No socket will come: without the exit check this would wait an hour.
            assert await asyncio.wait_for(client.wait_for_socket("k2"), 120) is None
            kernel.kernel_spec = FakeSpec({})  # not sandboxed: no wait at all
            kernel.alive = True
            assert await asyncio.wait_for(client.wait_for_socket("k2"), 120) is None
        finally:
            client.close()

    asyncio.run(run())


def test_a_kernel_that_breaks_off_its_answer_is_a_502(tmp_path: Path) -> None:
    """A kernel that dies mid-call closes its socket: tornado raises HTTPStreamClosedError even
    with raise_error=False. The client answers the kernel-did-not-answer 502 (plain calls and
    streams), not an unhandled 500."""
    connection = tmp_path / "kernel-k3.json"
    manager = FakeKernelManager(k3=FakeKernel(str(connection)))

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async def run() -> None:
        server = await asyncio.start_unix_server(hang_up, path=str(socket_path_for(connection)))
        client = ControlClient(manager, startup_wait=60)
        try:
            with pytest.raises(ControlError) as plain:
                await client.request("k3", "GET", "/status")
            assert plain.value.status == 502
            with pytest.raises(ControlError) as streamed:
                await client.stream("k3", "GET", "/status", None,
                                    lambda *_: None, lambda _chunk: None)
            assert streamed.value.status == 502
        finally:
            client.close()
            server.close()

    asyncio.run(run())


def test_stop_extension_stops_the_reaper_and_closes_the_client(tmp_path: Path) -> None:
    async def run() -> None:
        app = SandboxExtensionApp()
        control = ControlClient(FakeKernelManager())
        registry = SandboxRegistry(FakeKernelManager(), control, tmp_path, max_sandboxes=1,
                                   lifecycle=LifecyclePolicy.of(0, 60, "stop", 0, 0),
                                   limits=SandboxLimits(512, 64, 0),
                                   start_timeout=10, log=FakeKernelManager.log)
        registry.start_reaper()
        reaper = registry._reaper
        assert reaper is not None and reaper.is_running()
        app.control = control
        app.settings["jupyter_sandbox_service"] = registry
        await app.stop_extension()
        assert not reaper.is_running() and registry._reaper is None
        with pytest.raises(ControlClientClosedError):
            await control.request("any", "GET", "/status")

    asyncio.run(run())
