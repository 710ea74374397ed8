"""``%sandbox`` shows the network policy and the recent connection attempts (issue 16, audit);
``%sandbox network`` all of them. Against a real sandbox and an HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.network.policy import NetworkPolicy
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import execute_ok as _out
from tests.network_servers import HttpServer


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with HttpServer() as server:
        yield server.port


def test_sandbox_magic_says_network_off_by_default() -> None:
    with Sandbox(SandboxConfig()) as sandbox:
        text = _out(sandbox, "%sandbox")
        assert "network     off (the administrator can turn it on with " \
               "SandboxKernel.network = True)" in text


def test_sandbox_magic_shows_policy_and_connections(port: int) -> None:
    policy = NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{port}",), deny=("*.example.com",),
                           max_connections=5)
    with Sandbox(SandboxConfig(network=policy)) as sandbox:
        fetch = (f"import urllib.request\nprint(urllib.request.urlopen("
                 f"'http://127.0.0.1:{port}/').read())")
        assert _out(sandbox, fetch) == "b'hello from /'\n"
        _out(sandbox, "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9))\n"
                      "except PermissionError as e:\n    print(e)")
        text = _out(sandbox, "%sandbox")
        assert f"network     on: allow 127.0.0.1:{port}" in text
        assert "deny *.example.com" in text and "at most 5 connections at once" in text
        assert "connections 2 recent:" in text
        assert f"allowed  127.0.0.1:{port}  sent " in text
        assert "refused  127.0.0.1:9  no allow rule matches 127.0.0.1:9" in text

        for _ in range(11):
            _out(sandbox, "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9))\n"
                          "except PermissionError:\n    pass")
        assert "connections 13 recent, the last 10:" in _out(sandbox, "%sandbox")
        everything = _out(sandbox, "%sandbox network")
        assert everything.count("refused  127.0.0.1:9") == 12
        assert f"allowed  127.0.0.1:{port}" in everything
