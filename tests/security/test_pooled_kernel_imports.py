"""Issue 17 (pooled notebook kernels), the trust rule of issue 12 item 6 after a hand-over: a
pre-started kernel is moved into the notebook's folder (its working directory) when it is handed
over, and that folder holds modules named like those the kernel process imports (``json.py``,
``tarfile.py``, ``zmq.py``…, each writing a marker file when imported). None of them may run on
the host: not at the hand-over, not in cells, not when a snapshot makes the kernel import more
of its modules lazily. Checked for the kernelspec (``python -I``) and for a launch without
``-I`` (the launcher's guard), through the real ``PooledKernelManager``.

Also: a hand-over never mounts a folder given as a relative path or a missing one (the kernel
answers 400, nothing changes, the pool gives the notebook a normal start instead)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from jupyter_sandbox.kernel.control_protocol import socket_path_for
from jupyter_sandbox.server_extension.pooled_kernels import PooledKernelManager
from tests.kernel.pooled_manager import hand_over, kernel_client, wait_for_pool
from tests.server.conftest import short_temp_dir

from .test_kernel_import_path import SHADOWED, TIMEOUT, _exercise, plant_modules


@pytest.fixture
def base() -> Iterator[Path]:
    folder = short_temp_dir()
    for name in ("markers", "rt", "root", "data"):
        (folder / name).mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _plain_kernelspec(base: Path) -> KernelSpecManager:
    """``sandboxed-plain``: the kernel launched without ``-I`` (only the launcher's guard)."""
    specs = base / "kernels"
    (specs / "sandboxed-plain").mkdir(parents=True)
    (specs / "sandboxed-plain" / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "jupyter_sandbox.kernel", "-f", "{connection_file}"],
        "display_name": "no -I", "language": "python", "interrupt_mode": "message",
        "metadata": {"sandboxed": True}}))
    return KernelSpecManager(kernel_dirs=[str(specs)])


@pytest.mark.parametrize("isolated", [True, False], ids=["kernelspec", "without-I"])
def test_modules_in_the_notebook_folder_never_load_after_a_hand_over(base, isolated,
                                                                    monkeypatch):
    notebook_folder, markers = base / "root" / "project", base / "markers"
    plant_modules(notebook_folder, markers, "cwd")
    if not isolated:  # Python itself imports these before any of our code (why -I is used)
        for early in ("jupyter_sandbox", "sitecustomize", "usercustomize"):
            (notebook_folder / f"{early}.py").unlink()
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(base / "data"))  # the kernels inherit it
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    specs = {} if isolated else {"kernel_spec_manager": _plain_kernelspec(base),
                                 "pooled_kernel_name": "sandboxed-plain"}
    manager = PooledKernelManager(connection_dir=str(base / "rt"),
                                  root_dir=str(base / "root"), prespawn=1,
                                  refill_delay=3600.0, **specs)
    name = manager.pooled_kernel_name
    try:
        kernel_id = loop.run_until_complete(
            hand_over(manager, notebook_folder / "nb.ipynb", kernel_name=name))
        with kernel_client(manager, kernel_id, TIMEOUT) as client:
            _exercise(client)
            # the guest does see the folder (its own copy of json.py is the guest's business)
            reply = client.execute_interactive(
                "import os; print(sorted(os.listdir('/workspace')))", timeout=TIMEOUT,
                output_hook=lambda _m: None)
            assert reply["content"]["status"] == "ok"
    finally:
        loop.run_until_complete(manager.shutdown_all(now=True))
        loop.close()
        asyncio.set_event_loop(None)
    assert sorted(p.name for p in markers.iterdir()) == []
    assert len(SHADOWED) > 10


def test_a_hand_over_with_a_bad_folder_is_refused_and_changes_nothing(base, monkeypatch):
    """Straight to a waiting kernel's control socket: relative and missing folders are 400,
    the sandbox still shows no folder, and a correct hand-over still works after them."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(base / "data"))  # the kernels inherit it
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    manager = PooledKernelManager(connection_dir=str(base / "rt"),
                                  root_dir=str(base / "root"), prespawn=1,
                                  refill_delay=3600.0)
    try:
        loop.run_until_complete(wait_for_pool(manager))
        waiting = next(iter(manager._pool_managers.values()))
        sock = str(socket_path_for(waiting.connection_file))
        folder = base / "root" / "project"
        folder.mkdir()
        (folder / "data.csv").write_text("x\n")
        with httpx.Client(transport=httpx.HTTPTransport(uds=sock), base_url="http://k",
                          timeout=60) as http:
            for bad in ("project", str(base / "missing")):
                refused = http.post("/handover", json={"host_folder": bad})
                assert refused.status_code == 400, refused.text
                assert http.get("/status").json()["host_folder_mode"] == "off"
            handed = http.post("/handover", json={"host_folder": str(folder),
                                                  "notebook_path": str(folder / "n.ipynb")})
            assert handed.status_code == 200, handed.text
            assert handed.json()["host_folder"] == os.path.realpath(folder)
            mounts = http.get("/status").json()["mounts"]
            assert next(m for m in mounts if m["path"] == "/workspace")["host_folder"] == \
                os.path.realpath(folder)
            again = http.post("/handover", json={"host_folder": str(base)})
            assert again.status_code == 409
    finally:
        loop.run_until_complete(manager.shutdown_all(now=True))
        loop.close()
        asyncio.set_event_loop(None)
