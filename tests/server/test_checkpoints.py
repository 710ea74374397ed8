"""Notebook checkpoints that bring back the kernel's state, through a real jupyter server's
contents and sessions REST API; and the kernels' snapshot REST API."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from .conftest import Kernel, Server, attach_kernel, running_server, short_temp_dir

NOTEBOOK = "work/analysis.ipynb"
FILE_CHECKPOINTS = "jupyter_server.services.contents.filecheckpoints.AsyncFileCheckpoints"

STATE = """
import numpy as np, pandas as pd
array = np.arange(10)
frame = pd.DataFrame({"n": [1, 2, 3]})
class Thing:
    label = "original"
log = open("log.txt", "w")
log.write("first\\n")
"""
CHANGE = """
array[:] = 0
frame["n"] = -1
Thing.label = "changed"
log.write("second\\n")
"""
READ_BACK = ("print(int(array.sum()), int(frame.n.sum()), Thing.label); log.write('third\\n'); "
             "log.flush(); print(open('log.txt').read().split())")


@pytest.fixture
def base() -> Iterator[Path]:
    folder = short_temp_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _write_notebook(server: Server, marker: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(f"# {marker}")]
    notebook.metadata["kernelspec"] = {"name": "sandboxed-python",
                                       "display_name": "Sandboxed Python", "language": "python"}
    with server.client() as http:
        http.put(f"api/contents/{NOTEBOOK}", json={"type": "notebook", "content": notebook}
                 ).raise_for_status()


def _open_session(server: Server) -> Kernel:
    with server.client() as http:
        response = http.post("api/sessions", json={
            "path": NOTEBOOK, "name": "analysis.ipynb", "type": "notebook",
            "kernel": {"name": "sandboxed-python"}})
        response.raise_for_status()
        return attach_kernel(server, response.json()["kernel"]["id"])


def _notebook_marker(server: Server) -> str:
    with server.client() as http:
        content = http.get(f"api/contents/{NOTEBOOK}").json()["content"]
    return content["cells"][0]["source"]


def test_checkpoint_restores_file_and_kernel_state(base):
    with running_server(base) as server:
        (server.root_dir / "work").mkdir()
        _write_notebook(server, "version 1")
        kernel = _open_session(server)
        try:
            kernel.run(STATE)
            with server.client() as http:
                created = http.post(f"api/contents/{NOTEBOOK}/checkpoints")
                assert created.status_code == 201, created.text
                checkpoint = created.json()["id"]
                kernel.run(CHANGE)
                _write_notebook(server, "version 2")
                listed = http.get(f"api/contents/{NOTEBOOK}/checkpoints").json()
                assert listed[-1]["id"] == checkpoint  # the newest, after any made at creation
                restored = http.post(f"api/contents/{NOTEBOOK}/checkpoints/{checkpoint}")
                assert restored.status_code == 204, restored.text
            assert _notebook_marker(server) == "# version 1"
            assert kernel.stdout(READ_BACK) == "45 6 original\n['first', 'third']\n"
        finally:
            kernel.client.stop_channels()


def test_checkpoint_of_stopped_kernel_is_restored_by_the_next_kernel(base):
    with running_server(base) as server:
        (server.root_dir / "work").mkdir()
        _write_notebook(server, "saved")
        kernel = _open_session(server)
        kernel.run("answer = 42")
        with server.client() as http:
            checkpoint = http.post(f"api/contents/{NOTEBOOK}/checkpoints").json()["id"]
            kernel.client.stop_channels()
            http.delete(f"api/kernels/{kernel.id}").raise_for_status()
            assert http.get("api/sessions").json() == []
    with running_server(base) as server:  # a restarted server: state comes from disk
        with server.client() as http:
            restored = http.post(f"api/contents/{NOTEBOOK}/checkpoints/{checkpoint}")
            assert restored.status_code == 204, restored.text
        kernel = _open_session(server)
        try:
            assert kernel.stdout("print(answer)") == "42\n"
        finally:
            kernel.client.stop_channels()


def test_bad_checkpoint_ids_and_renames(base):
    with running_server(base) as server:
        (server.root_dir / "work").mkdir()
        _write_notebook(server, "one")
        with server.client() as http:
            before = [c["id"] for c in http.get(f"api/contents/{NOTEBOOK}/checkpoints").json()]
            first = http.post(f"api/contents/{NOTEBOOK}/checkpoints").json()["id"]
            second = http.post(f"api/contents/{NOTEBOOK}/checkpoints").json()["id"]
            assert first != second
            missing = http.post(f"api/contents/{NOTEBOOK}/checkpoints/nope-123")
            assert missing.status_code == 404
            assert "Traceback" not in missing.text
            renamed = "work/renamed.ipynb"
            http.patch(f"api/contents/{NOTEBOOK}", json={"path": renamed}).raise_for_status()
            ids = [c["id"] for c in http.get(f"api/contents/{renamed}/checkpoints").json()]
            assert ids == [*before, first, second]
            http.delete(f"api/contents/{renamed}").raise_for_status()
            http.put(f"api/contents/{renamed}", json={"type": "file", "format": "text",
                                                      "content": "new"}).raise_for_status()
            assert http.get(f"api/contents/{renamed}/checkpoints").json() == []


def test_snapshot_rest_api(base):
    with running_server(base) as server:
        (server.root_dir / "work").mkdir()
        _write_notebook(server, "x")
        kernel = _open_session(server)
        api = f"sandbox/api/kernels/{kernel.id}/snapshots"
        try:
            kernel.run("value = 'saved'")
            with server.client() as http:
                saved = http.post(f"{api}/first")
                assert saved.status_code == 201, saved.text
                assert saved.json()["name"] == "first"
                kernel.run("value = 'changed'")
                assert [s["name"] for s in http.get(api).json()["snapshots"]] == ["first"]
                assert http.post(f"{api}/first/restore").status_code == 200
                assert kernel.stdout("print(value)") == "saved\n"
                assert http.post(f"{api}/bad%20name").status_code == 400
                assert http.post(f"{api}/missing/restore").status_code == 404
                assert http.delete(f"{api}/first").status_code == 204
                assert http.get(api).json()["snapshots"] == []
                assert http.get("sandbox/api/kernels/no-such-kernel/snapshots").status_code == 404
            with httpx.Client(base_url=server.url, timeout=60) as anonymous:
                assert anonymous.get(api).status_code == 403
                assert anonymous.post(f"{api}/sneaky").status_code == 403
        finally:
            kernel.client.stop_channels()



def test_checkpoints_class_is_ours_unless_the_administrator_chose_one(base):
    """The extension installs SandboxCheckpoints as ``ContentsManager.checkpoints_class``
    (ids ``<time>-<hex>``); an administrator's own choice in config wins, and the log says so."""
    (base / "cfg").mkdir()
    (base / "cfg" / "jupyter_server_config.json").write_text(json.dumps({
        "FileContentsManager": {"checkpoints_class": FILE_CHECKPOINTS}}))
    with running_server(base) as server:
        (server.root_dir / "work").mkdir()
        _write_notebook(server, "admin's checkpoints")
        with server.client() as http:
            created = http.post(f"api/contents/{NOTEBOOK}/checkpoints")
        assert created.status_code == 201, created.text
        assert created.json()["id"] == "checkpoint"  # FileCheckpoints' one id per file
        assert any("will not hold sandbox state" in line for line in server.log_lines)
    shutil.rmtree(base / "cfg")
    with running_server(base) as server:
        with server.client() as http:
            created = http.post(f"api/contents/{NOTEBOOK}/checkpoints")
        assert created.status_code == 201, created.text
        assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{6}", created.json()["id"]), created.text
