"""A pooled kernel handed over to a notebook takes the notebook folder as the administrator's
kernel configuration says, as a normal start would: ``SandboxKernel.host_folder_mode`` in
``jupyter_sandbox_kernel_config.json`` (``readonly``: host files visible and unchangeable;
``off``: no folder at all); and where a hand-over could differ from a normal start, the
notebook gets a normal start. Through a real in-process ``PooledKernelManager``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jupyter_client.blocking.client import BlockingKernelClient

from jupyter_sandbox.kernel.control_protocol import SESSION_NAME_ENV, socket_path_for
from jupyter_sandbox.server_extension.pooled_kernels import PooledKernelManager
from tests.kernel.pooled_manager import hand_over, kernel_client, wait_for_pool
from tests.server.conftest import short_temp_dir

TIMEOUT = 120


@pytest.fixture
def base(monkeypatch) -> Iterator[Path]:
    folder = short_temp_dir()
    for name in ("rt", "root/project", "data", "cfg"):
        (folder / name).mkdir(parents=True)
    (folder / "root" / "project" / "data.csv").write_text("a,b\n1,2\n")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(folder / "data"))  # the kernels inherit both
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(folder / "cfg"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _stdout(client: BlockingKernelClient, code: str) -> str:
    outputs: list[dict] = []
    reply = client.execute_interactive(code, timeout=TIMEOUT, output_hook=outputs.append)
    assert reply["content"]["status"] == "ok", outputs
    return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")


@pytest.mark.parametrize("mode", ["readonly", "off"])
def test_the_kernels_own_host_folder_mode_applies_at_hand_over(base, mode):
    (base / "cfg" / "jupyter_sandbox_kernel_config.json").write_text(
        json.dumps({"SandboxKernel": {"host_folder_mode": mode}}))
    folder = base / "root" / "project"
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    manager = PooledKernelManager(connection_dir=str(base / "rt"), root_dir=str(base / "root"),
                                  prespawn=1, refill_delay=3600.0)
    try:
        kernel_id = loop.run_until_complete(hand_over(manager, folder / "nb.ipynb"))
        with kernel_client(manager, kernel_id, TIMEOUT) as client:
            listing = _stdout(client, "import os; print(sorted(os.listdir('/workspace')))")
            status = _stdout(client, "%sandbox")
            if mode == "off":
                assert "data.csv" not in listing
                assert "host folder off" in status
            else:
                assert "data.csv" in listing
                assert "host folder readonly" in status
                refused = _stdout(client, "try:\n    open('data.csv', 'w')\n"
                                          "except OSError as e:\n    print(type(e).__name__)")
                assert refused.strip() in ("PermissionError", "OSError")
    finally:
        loop.run_until_complete(manager.shutdown_all(now=True))
        loop.close()
        asyncio.set_event_loop(None)
    assert (folder / "data.csv").read_text() == "a,b\n1,2\n"


def test_a_changed_environment_or_a_refused_hand_over_means_a_normal_start(base):
    """A waiting kernel started with another environment than the session's, or one that
    refuses the hand-over (here: already handed over by someone else), is shut down and the
    notebook gets a normally started kernel, which works; the pool refills."""
    folder = base / "root" / "project"
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    manager = PooledKernelManager(connection_dir=str(base / "rt"), root_dir=str(base / "root"),
                                  prespawn=1, refill_delay=0.0)

    async def start(env: dict[str, str]) -> str:
        return await manager.start_kernel(path=folder.name, kernel_name="sandboxed-python",
                                          env={**env, SESSION_NAME_ENV: str(folder / "n.ipynb")})

    try:
        waiting = loop.run_until_complete(wait_for_pool(manager))
        normal = loop.run_until_complete(start({**os.environ, "CHANGED_SINCE": "1"}))
        assert normal != waiting
        assert manager.pool_status()["discarded"] == {"environment changed": 1}
        assert manager.pool_status()["miss_reasons"] == {"pool empty": 1}

        waiting = loop.run_until_complete(wait_for_pool(manager))  # refilled
        sock = socket_path_for(manager._pool_managers[waiting].connection_file)
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://k",
                          timeout=60) as http:
            assert http.post("/handover", json={}).status_code == 200  # taken by someone
        second = loop.run_until_complete(start(dict(os.environ)))
        assert second not in (waiting, normal)
        assert manager.pool_status()["discarded"] == {"environment changed": 1,
                                                      "hand-over refused": 1}
        assert manager.pool_status()["hits"] == 0
        with kernel_client(manager, second, TIMEOUT) as client:
            assert "data.csv" in _stdout(client, "import os; print(os.listdir('/workspace'))")
        assert sorted(manager.list_kernel_ids()) == sorted([normal, second])
    finally:
        loop.run_until_complete(manager.shutdown_all(now=True))
        loop.close()
        asyncio.set_event_loop(None)
