"""``PooledKernelManager`` in a real ``jupyter server``: a notebook's session gets a pre-started
Sandboxed Python kernel that sees its own folder (files, ``import helper``, cwd) and keeps that
notebook's named snapshots; restart and shutdown through the REST API behave as with a normal
kernel; the pool refills; waiting kernels are not listed and never culled; starts that a
hand-over could not match exactly (another kernel, a checkpoint waiting) are normal starts."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jupyter_sandbox.kernel.control_protocol import (
    SNAPSHOT_SUFFIX,
    named_snapshot_folder,
    pending_restore_path,
)
from tests.jupyter_process import STARTUP_TIMEOUT

from .conftest import Kernel, Server, attach_kernel, running_server, short_temp_dir

MANAGER = "jupyter_sandbox.server_extension.pooled_kernels.PooledKernelManager"
POOL_TIMEOUT = 240.0


@contextlib.contextmanager
def pooled_server(base: Path, *options: str, via_extension: bool = False) -> Iterator[Server]:
    """A ``jupyter server`` with the pooled kernel manager, its folders under ``base``: set
    as ``ServerApp.kernel_manager_class``, or by the extension
    (``SandboxExtensionApp.notebook_kernel_pool``)."""
    choose = ("--SandboxExtensionApp.notebook_kernel_pool=True" if via_extension
              else f"--ServerApp.kernel_manager_class={MANAGER}")
    with running_server(base, options=[choose, "--PooledKernelManager.prespawn=1",
                                       "--PooledKernelManager.refill_delay=0",
                                       *options]) as server:
        yield server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    base = short_temp_dir()
    try:
        with pooled_server(base) as running:
            yield running
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def project(server: Server) -> Path:
    folder = server.root_dir / "project"
    folder.mkdir(exist_ok=True)
    (folder / "data.csv").write_text("city,people\nLyon,522000\n")
    (folder / "helper.py").write_text("def greet():\n    return 'hello from helper.py'\n")
    (folder / "analysis.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, '
                                           '"nbformat_minor": 5}')
    return folder


def listed_kernels(server: Server) -> set[str]:
    with server.client() as http:
        response = http.get("api/kernels")
        response.raise_for_status()
        return {k["id"] for k in response.json()}


def waiting_kernels(server: Server) -> set[str]:
    """Pre-started kernels ready for a hand-over: a connection file and a listening control
    socket in the runtime folder, and not among the server's listed kernels."""
    ids = {p.name[len("kernel-"):-len(".json")] for p in server.runtime_dir.glob("kernel-*.json")
           if p.with_name(p.name[:-len(".json")] + ".sandbox.sock").exists()}
    return ids - listed_kernels(server)


def wait_for_pool(server: Server, exclude: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    deadline = time.monotonic() + POOL_TIMEOUT
    while time.monotonic() < deadline:
        ready = waiting_kernels(server) - exclude
        if ready:
            return sorted(ready)[0]
        time.sleep(0.2)
    raise AssertionError("no pre-started kernel became ready:\n" + "".join(server.log_lines))


def open_notebook(server: Server, path: str, kernel_name: str = "sandboxed-python") -> str:
    """What JupyterLab does when a notebook is opened: create a session; its kernel's id."""
    with server.client() as http:
        response = http.post("api/sessions", json={"path": path, "type": "notebook",
                                                   "name": Path(path).name,
                                                   "kernel": {"name": kernel_name}})
        assert response.status_code == 201, response.text
        return response.json()["kernel"]["id"]


def close_session(server: Server, kernel_id: str) -> None:
    with server.client() as http:
        for session in http.get("api/sessions").json():
            if session["kernel"]["id"] == kernel_id:
                http.delete(f"api/sessions/{session['id']}")


def attach(server: Server, kernel_id: str) -> Kernel:
    return attach_kernel(server, kernel_id)


PROBE = ("import os, helper\n"
         "print(sorted(os.listdir('/workspace')))\n"
         "print(os.getcwd())\n"
         "print(open('data.csv').read().splitlines()[1])\n"
         "print(helper.greet())\n")


def test_a_notebook_gets_a_pooled_kernel_that_sees_its_folder(server: Server, project: Path):
    pooled = wait_for_pool(server)
    assert pooled not in listed_kernels(server)  # waiting kernels are not listed
    kernel_id = open_notebook(server, "project/analysis.ipynb")
    assert kernel_id == pooled, "the session's kernel is the pre-started one"
    assert kernel_id in listed_kernels(server)
    kernel = attach(server, kernel_id)
    try:
        out = kernel.stdout(PROBE).splitlines()
        assert out[0] == str(sorted(p.name for p in project.iterdir()))
        assert out[1:] == ["/workspace", "Lyon,522000", "hello from helper.py"]
        with server.client() as http:
            status = http.get(f"sandbox/api/kernels/{kernel_id}/status").json()
            model = http.get(f"api/kernels/{kernel_id}").json()
        assert status["host_folder_mode"] == "overlay"
        workspace = next(m for m in status["mounts"] if m["path"] == "/workspace")
        assert workspace["host_folder"] == os.path.realpath(project)
        assert model["execution_state"] in ("idle", "busy")
        # the notebook's named snapshots, where a kernel started for it keeps them
        kernel.run("%snapshot save pooled-one")
        folder = named_snapshot_folder(str(project / "analysis.ipynb"))
        saved = (server.root_dir.parent / "data" / "sandbox" / "snapshots" / folder.name
                 / f"pooled-one{SNAPSHOT_SUFFIX}")
        assert saved.is_file()
    finally:
        kernel.client.stop_channels()
    # the pool refills with another kernel
    assert wait_for_pool(server, exclude={kernel_id}) != kernel_id
    close_session(server, kernel_id)
    with server.client() as http:
        stats = http.get("sandbox/api/notebook-pool")
    assert stats.status_code == 200, stats.text
    assert stats.json()["hits"] >= 1 and stats.json()["kernel_name"] == "sandboxed-python"
    assert stats.json()["handover_seconds"]["median"] > 0
    with httpx.Client(base_url=server.url, timeout=60) as anonymous:
        assert anonymous.get("sandbox/api/notebook-pool").status_code == 403


def test_restart_and_shutdown_through_the_rest_api(server: Server, project: Path):
    wait_for_pool(server)
    kernel_id = open_notebook(server, "project/analysis.ipynb")
    kernel = attach(server, kernel_id)
    try:
        kernel.run("before_restart = 42")
        # interrupt through the REST API, as JupyterLab's stop button
        msg_id = kernel.client.execute("print('looping', flush=True)\nwhile True:\n    pass")
        while True:
            message = kernel.client.get_iopub_msg(timeout=120)
            if message["parent_header"].get("msg_id") == msg_id and \
                    message["msg_type"] == "stream":
                break
        with server.client() as http:
            assert http.post(f"api/kernels/{kernel_id}/interrupt").status_code == 204
        while True:
            reply = kernel.client.get_shell_msg(timeout=120)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        while True:  # idle first: a request that comes before is aborted (stop_on_error)
            message = kernel.client.get_iopub_msg(timeout=120)
            if message["parent_header"].get("msg_id") == msg_id and \
                    message["msg_type"] == "status" and \
                    message["content"]["execution_state"] == "idle":
                break
        assert kernel.stdout("print(before_restart)").strip() == "42"
    finally:
        kernel.client.stop_channels()
    with server.client() as http:
        restarted = http.post(f"api/kernels/{kernel_id}/restart")
        assert restarted.status_code == 200, restarted.text
        assert restarted.json()["id"] == kernel_id
    kernel = attach(server, kernel_id)
    try:
        # a new, normal process: started in the notebook's folder, nothing of before
        out = kernel.stdout(PROBE + "print('before_restart' in globals())\n").splitlines()
        assert out[1:] == ["/workspace", "Lyon,522000", "hello from helper.py", "False"]
        assert out[0] == str(sorted(p.name for p in project.iterdir()))
    finally:
        kernel.client.stop_channels()
    close_session(server, kernel_id)
    with server.client() as http:
        gone = http.delete(f"api/kernels/{kernel_id}")
        assert gone.status_code in (204, 404)  # the session's deletion may have stopped it
        assert http.get(f"api/kernels/{kernel_id}").status_code == 404
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while (server.runtime_dir / f"kernel-{kernel_id}.json").exists():
        assert time.monotonic() < deadline, "the connection file stayed after shutdown"
        time.sleep(0.1)


def test_other_kernels_and_a_waiting_checkpoint_start_normally(server: Server, project: Path):
    pooled = wait_for_pool(server)
    stock = open_notebook(server, "project/stock.ipynb", kernel_name="python3")
    assert stock != pooled
    close_session(server, stock)
    # a checkpoint restored while no kernel ran is read only by a normal start
    pending = (server.root_dir.parent / "data" / "sandbox" / "pending"
               / pending_restore_path(str(project / "restored.ipynb")).name)
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.write_bytes(b"not a snapshot: the kernel says so and starts clean")
    normal = open_notebook(server, "project/restored.ipynb")
    assert normal != pooled
    assert pooled in waiting_kernels(server)
    kernel = attach(server, normal)
    try:
        assert kernel.stdout("import os; print(os.path.exists('data.csv'))").strip() == "True"
    finally:
        kernel.client.stop_channels()
    assert not pending.exists()  # consumed by the normal start
    close_session(server, normal)
    with server.client() as http:
        reasons = http.get("sandbox/api/notebook-pool").json()["miss_reasons"]
    assert reasons.get("checkpoint to restore", 0) >= 1


def test_two_notebooks_at_once_one_gets_the_waiting_kernel(server: Server, project: Path):
    """The pool holds one kernel: of two sessions asked for together, one gets it, the other
    a normal start; both see their folder."""
    pooled = wait_for_pool(server)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(lambda name: open_notebook(server, f"project/{name}.ipynb"),
                            ["first", "second"]))
    assert len(set(ids)) == 2 and pooled in ids
    for kernel_id in ids:
        kernel = attach(server, kernel_id)
        try:
            assert kernel.stdout("print(open('data.csv').read().splitlines()[1])").strip() \
                == "Lyon,522000"
        finally:
            kernel.client.stop_channels()
        close_session(server, kernel_id)


def test_the_pool_route_says_when_there_is_no_pool(jupyter_server: Server):
    with jupyter_server.client() as http:
        answer = http.get("sandbox/api/notebook-pool")
    assert answer.status_code == 404
    assert "notebook_kernel_pool" in answer.json()["hint"]


def test_idle_culling_never_takes_a_waiting_kernel():
    """Also: the extension's ``notebook_kernel_pool`` switch sets the kernel manager."""
    base = short_temp_dir()
    try:
        with pooled_server(base, "--MappingKernelManager.cull_idle_timeout=1",
                           "--MappingKernelManager.cull_interval=1",
                           via_extension=True) as server:
            pooled = wait_for_pool(server)
            # a normal kernel, idle and unconnected, is culled meanwhile ...
            with server.client() as http:
                started = http.post("api/kernels", json={"name": "python3"})
                assert started.status_code == 201
                culled = started.json()["id"]
            deadline = time.monotonic() + POOL_TIMEOUT
            while culled in listed_kernels(server):
                assert time.monotonic() < deadline, "the culler never ran"
                time.sleep(0.2)
            # ... while the waiting kernel is still there and can be handed over
            assert pooled in waiting_kernels(server)
            assert open_notebook(server, "pooled.ipynb") == pooled
            wait_for_pool(server, exclude={pooled})  # a new waiting kernel
        # the server stopped: the waiting kernel (the only kernel left: the handed-over one
        # is idle and unconnected, so it was culled) was shut down
        left = sorted(p.name for p in server.runtime_dir.glob("kernel-*"))
        assert left == [], "".join(server.log_lines[-60:])
    finally:
        shutil.rmtree(base, ignore_errors=True)
