"""``POST /handover`` on a real control endpoint (tornado on a Unix socket) serving a real
sandbox: limits are lowered on the running sandbox and enforced, bad requests change nothing,
and a kernel is handed over once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jupyter_sandbox.kernel.control_endpoint import ControlEndpoint
from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.server.conftest import short_temp_dir

MiB = 1 << 20


@pytest.fixture
def endpoint() -> Iterator[tuple[Sandbox, httpx.Client]]:
    folder = short_temp_dir()
    sandbox = Sandbox(SandboxConfig(limits=Limits(memory_bytes=1024 * MiB)))
    control = ControlEndpoint(sandbox, Path(folder) / "k.sock")
    control.start()
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(control.socket_path)),
                          base_url="http://sandbox", timeout=60)
    try:
        yield sandbox, client
    finally:
        client.close()
        control.stop()
        sandbox.close()
        folder.rmdir()


def test_handover_lowers_limits_once_and_they_are_enforced(endpoint):
    sandbox, client = endpoint
    refused = client.post("/handover", json={"limits": {"memory_mib": 4096}})
    assert refused.status_code == 400
    assert refused.json()["code"] == "bad_limits"
    assert "only be lowered" in refused.json()["message"]
    assert sandbox.status()["limits"]["memory_bytes"] == 1024 * MiB

    answer = client.post("/handover", json={
        "limits": {"memory_mib": 256, "workspace_mib": 64, "cell_timeout": 30},
        "metadata": {"owner": "alice"}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["limits"]["memory_bytes"] == 256 * MiB
    assert body["limits"]["workspace_bytes"] == 64 * MiB
    assert body["limits"]["cell_timeout"] == 30
    assert body["metadata"] == {"owner": "alice"}
    status = client.get("/status").json()
    assert status["limits"]["memory_bytes"] == 256 * MiB
    reply = sandbox.execute("hog = bytearray(400 * 1024 * 1024)")
    assert (reply.status, reply.ename) == ("error", "MemoryError")

    again = client.post("/handover", json={"limits": {"memory_mib": 128}})
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    assert sandbox.status()["limits"]["memory_bytes"] == 256 * MiB


@pytest.mark.parametrize("body, words", [
    ({"limits": {"memory_mib": "256"}}, "must be a non-negative integer"),
    ({"limits": {"gpus": 1}}, "unknown limits: gpus"),
    ({"owner": "x"}, "unknown fields: owner"),
    ({"metadata": [1]}, "must be an object"),
    ({"host_folder_mode": "writable"}, "host_folder_mode"),
    ([1, 2], "JSON object"),
])
def test_malformed_handover_is_400_and_changes_nothing(endpoint, body, words):
    sandbox, client = endpoint
    answer = client.post("/handover", json=body)
    assert answer.status_code == 400
    assert words in answer.json()["message"]
    assert sandbox.status()["limits"]["memory_bytes"] == 1024 * MiB
    # refused: the kernel may still be handed over
    assert client.post("/handover", json={}).status_code == 200
