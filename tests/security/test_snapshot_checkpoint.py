"""Issue 12, items 4 and 5 through a real ``jupyter server``: *Revert to checkpoint* after the
checkpoint's snapshot file was replaced on disk.

The server stores the snapshot bytes its kernel gave it and never needs the key: the kernel
that restores them checks the signature. A replaced file is refused with the kernel's state
untouched (kernel running), or the next kernel for the notebook starts clean and says so (no
kernel running); nothing is written outside the sandbox either way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.server.conftest import Kernel, Server, attach_kernel, running_server, short_temp_dir

NOTEBOOK = "work/analysis.ipynb"


@pytest.fixture
def base() -> Iterator[Path]:
    folder = short_temp_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _open_notebook(server: Server) -> Kernel:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("# analysis")]
    with server.client() as http:
        http.put(f"api/contents/{NOTEBOOK}", json={"type": "notebook", "content": notebook}
                 ).raise_for_status()
        response = http.post("api/sessions", json={
            "path": NOTEBOOK, "name": "analysis.ipynb", "type": "notebook",
            "kernel": {"name": "sandboxed-python"}})
        response.raise_for_status()
        return attach_kernel(server, response.json()["kernel"]["id"])


def _replace_checkpoint_snapshot(base: Path, checkpoint: str, tmp_path: Path) -> None:
    """What an attacker with write access to the checkpoint folder does: put in a snapshot of
    their own (well formed, but not signed with this installation's key)."""
    [stored] = (base / "data" / "sandbox" / "checkpoints").glob(f"*/{checkpoint}/sandbox.snap")
    with Sandbox(SandboxConfig(snapshot_key_file=tmp_path / "attacker.key")) as theirs:
        theirs.execute("import os; planted = 'attacker state'")
        stored.write_bytes(theirs.snapshot())


def test_revert_with_a_replaced_snapshot_is_refused_while_the_kernel_runs(base, tmp_path):
    with running_server(base) as server:
        (server.root_dir / "work").mkdir()
        kernel = _open_notebook(server)
        try:
            kernel.run("state = 'before'; open('/workspace/kept.txt', 'w').write('kept')")
            with server.client() as http:
                checkpoint = http.post(f"api/contents/{NOTEBOOK}/checkpoints").json()["id"]
                kernel.run("state = 'after'")
                _replace_checkpoint_snapshot(base, checkpoint, tmp_path)
                reverted = http.post(f"api/contents/{NOTEBOOK}/checkpoints/{checkpoint}")
            assert reverted.status_code == 409, reverted.text
            assert "not made by this jupyter-sandbox installation" in reverted.text
            assert kernel.stdout("print(state, open('/workspace/kept.txt').read(), "
                                 "'planted' in globals())") == "after kept False\n"
        finally:
            kernel.client.stop_channels()


def test_revert_with_a_replaced_snapshot_and_no_kernel_starts_clean(base, tmp_path):
    with running_server(base) as server:
        (server.root_dir / "work").mkdir()
        kernel = _open_notebook(server)
        kernel.run("state = 'saved'")
        with server.client() as http:
            checkpoint = http.post(f"api/contents/{NOTEBOOK}/checkpoints").json()["id"]
            kernel.client.stop_channels()
            http.delete(f"api/kernels/{kernel.id}").raise_for_status()
            _replace_checkpoint_snapshot(base, checkpoint, tmp_path)
            reverted = http.post(f"api/contents/{NOTEBOOK}/checkpoints/{checkpoint}")
            assert reverted.status_code == 204, reverted.text
        kernel = _open_notebook(server)
        try:
            outputs: list[dict] = []
            reply = kernel.client.execute_interactive("print('planted' in globals())",
                                                      timeout=120, output_hook=outputs.append)
            assert reply["content"]["status"] == "ok"
            said = {"stdout": "", "stderr": ""}
            for message in outputs:
                if message["msg_type"] == "stream":
                    said[message["content"]["name"]] += message["content"]["text"]
            assert "started clean" in said["stderr"]
            assert "not made by this jupyter-sandbox installation" in said["stderr"]
            assert said["stdout"] == "False\n"
        finally:
            kernel.client.stop_channels()
