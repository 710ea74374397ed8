"""Issue 12, item 7: checkpoints belong to a file's real location, not to its path relative to
the server's root.

The attack: two projects (two servers with different roots) share one Jupyter data folder and
each has ``work/analysis.ipynb``. One project must not list, revert to or prune the other's
checkpoints, and *Revert* must never write one project's notebook with the other's content.
The kernel and the server must still agree on a notebook's key when the root is reached
through a symlink (the pending start state of a stopped kernel)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.server.conftest import Kernel, Server, attach_kernel, running_server, short_temp_dir

NOTEBOOK = "work/analysis.ipynb"


@pytest.fixture
def bases() -> Iterator[tuple[Path, Path]]:
    first, second = short_temp_dir(), short_temp_dir()
    (first / "data").mkdir()
    (second / "data").symlink_to(first / "data")  # one Jupyter data folder for both
    yield first, second
    shutil.rmtree(first, ignore_errors=True)
    shutil.rmtree(second, ignore_errors=True)


def _write(server: Server, marker: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(f"# {marker}")]
    notebook.metadata["kernelspec"] = {"name": "sandboxed-python", "language": "python",
                                       "display_name": "Sandboxed Python"}
    (server.root_dir / "work").mkdir(exist_ok=True)
    with server.client() as http:
        http.put(f"api/contents/{NOTEBOOK}", json={"type": "notebook", "content": notebook}
                 ).raise_for_status()


def _marker(server: Server) -> str:
    with server.client() as http:
        return http.get(f"api/contents/{NOTEBOOK}").json()["content"]["cells"][0]["source"]


def _ids(server: Server) -> list[str]:
    with server.client() as http:
        response = http.get(f"api/contents/{NOTEBOOK}/checkpoints")
        response.raise_for_status()
        return [c["id"] for c in response.json()]


def _checkpoint(server: Server) -> str:
    with server.client() as http:
        created = http.post(f"api/contents/{NOTEBOOK}/checkpoints")
        assert created.status_code == 201, created.text
        return created.json()["id"]


def test_two_roots_never_share_checkpoints(bases):
    (bases[1] / "cfg").mkdir()
    (bases[1] / "cfg" / "jupyter_server_config.json").write_text(
        json.dumps({"SandboxCheckpoints": {"max_total_bytes": 1}}))
    with running_server(bases[0]) as first, running_server(bases[1]) as second:
        _write(first, "first project")
        _write(second, "second project")
        mine = _checkpoint(first)
        assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{6}", mine), "not SandboxCheckpoints"
        assert mine not in _ids(second)
        with second.client() as http:
            revert = http.post(f"api/contents/{NOTEBOOK}/checkpoints/{mine}")
            assert revert.status_code == 404, revert.text
            assert http.delete(f"api/contents/{NOTEBOOK}/checkpoints/{mine}").status_code == 404
        assert _marker(second) == "# second project"
        # The second project fills its per-file quota and passes a tiny total budget: pruning
        # there never reaches the first project's checkpoint.
        with second.client() as http:
            for _ in range(12):
                assert http.post(f"api/contents/{NOTEBOOK}/checkpoints").status_code == 201
        assert mine in _ids(first)
        assert set(_ids(first)).isdisjoint(_ids(second))
        with first.client() as http:
            assert http.post(f"api/contents/{NOTEBOOK}/checkpoints/{mine}").status_code == 204
        assert _marker(first) == "# first project"
        assert _marker(second) == "# second project"


def _session(server: Server) -> Kernel:
    with server.client() as http:
        response = http.post("api/sessions", json={
            "path": NOTEBOOK, "name": "analysis.ipynb", "type": "notebook",
            "kernel": {"name": "sandboxed-python"}})
        response.raise_for_status()
        return attach_kernel(server, response.json()["kernel"]["id"])


def test_pending_state_is_found_through_a_symlinked_root():
    """The server knows the notebook as ``<root through a symlink>/work/analysis.ipynb``, the
    kernel as its real working directory: both must reach the same pending start state."""
    base = short_temp_dir()
    try:
        (base / "real-root").mkdir()
        (base / "root").symlink_to(base / "real-root")
        with running_server(base) as server:
            _write(server, "saved")
            kernel = _session(server)
            kernel.run("answer = 42")
            checkpoint = _checkpoint(server)
            kernel.client.stop_channels()
            with server.client() as http:
                http.delete(f"api/kernels/{kernel.id}").raise_for_status()
                restored = http.post(f"api/contents/{NOTEBOOK}/checkpoints/{checkpoint}")
                assert restored.status_code == 204, restored.text
            pending = list((base / "data" / "sandbox" / "pending").iterdir())
            assert len(pending) == 1
            kernel = _session(server)
            try:
                assert kernel.stdout("print(answer)") == "42\n"
                assert not pending[0].exists()  # consumed by the kernel it was meant for
            finally:
                kernel.client.stop_channels()
    finally:
        shutil.rmtree(base, ignore_errors=True)
