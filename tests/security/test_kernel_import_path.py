"""Issue 12, item 6: a module shipped beside a notebook (or on ``PYTHONPATH``) never runs in
the host kernel process.

The attack: a notebook folder holding ``json.py``, ``tarfile.py``, ``zmq.py``,
``jupyter_sandbox.py``… that write a marker file when imported. Opening the notebook with
Sandboxed Python starts the kernel with that folder as its working directory; the modules must
not be imported, and the kernel must work (cells, a snapshot, which imports more modules
lazily).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.server.conftest import attach_kernel, running_server, short_temp_dir

TIMEOUT = 120
#: Modules the kernel process imports (at start, or later while it runs), shadowed.
SHADOWED = ("json", "tarfile", "zmq", "jupyter_sandbox", "traitlets", "zstandard", "wasmtime",
            "sitecustomize", "usercustomize", "shutil", "tempfile", "hashlib", "ipykernel")


def plant_modules(folder: Path, markers: Path, tag: str) -> None:
    """A shadowing module per name; importing one creates ``markers/<tag>-<name>``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SHADOWED:
        marker = markers / f"{tag}-{name}"
        (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")


@pytest.fixture
def base() -> Iterator[Path]:
    folder = short_temp_dir()
    (folder / "markers").mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(base: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "JUPYTER_DATA_DIR": str(base / "data"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), **extra}
    env.pop("JUPYTER_SANDBOX_SERVER_URL", None)
    return env


def _exercise(client: BlockingKernelClient) -> None:
    """Cells that make the kernel process import more of its modules lazily."""
    for code, expected in (("print(6 * 7)", "42\n"),
                           ("%snapshot save probe", "Snapshot 'probe' saved"),
                           ("%snapshot restore probe", "Restored snapshot 'probe'"),
                           ("import json; print(json.dumps({'a': 1}))", '{"a": 1}\n')):
        outputs: list[dict] = []
        reply = client.execute_interactive(code, timeout=TIMEOUT, output_hook=outputs.append)
        text = "".join(m["content"].get("text", "") for m in outputs
                       if m["msg_type"] == "stream")
        assert reply["content"]["status"] == "ok", outputs
        assert expected in text, (code, outputs)


def _run_kernel(manager: KernelManager, cwd: Path, env: dict[str, str]) -> None:
    manager.start_kernel(cwd=str(cwd), env=env)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=TIMEOUT)
        _exercise(client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_kernelspec_runs_the_kernel_isolated():
    spec = KernelSpecManager().get_kernel_spec("sandboxed-python")
    assert spec.argv[:4] == ["python", "-I", "-m", "jupyter_sandbox.kernel"]
    source = Path(__file__).resolve().parents[2] / "share/jupyter/kernels/sandboxed-python"
    assert json.loads((source / "kernel.json").read_text())["argv"] == spec.argv


def test_notebook_folder_and_pythonpath_modules_never_load(base):
    notebook_folder, path_folder, markers = base / "notebook", base / "pythonpath", base / "markers"
    plant_modules(notebook_folder, markers, "cwd")
    plant_modules(path_folder, markers, "pythonpath")
    manager = KernelManager(kernel_name="sandboxed-python")
    _run_kernel(manager, notebook_folder, _env(base, PYTHONPATH=str(path_folder)))
    assert sorted(p.name for p in markers.iterdir()) == []


def test_guard_protects_a_launch_without_isolation(base):
    """Someone runs ``python -m jupyter_sandbox.kernel`` without ``-I``: the launcher's guard
    (and the app's ``ignore_cwd``) still keep the folder and ``PYTHONPATH`` off ``sys.path``.
    (``jupyter_sandbox.py`` and ``sitecustomize.py`` are left out: without ``-I`` Python
    itself imports them before any of our code runs, which is why the kernelspec has ``-I``.)"""
    notebook_folder, path_folder, markers = base / "notebook", base / "pythonpath", base / "markers"
    plant_modules(notebook_folder, markers, "cwd")
    plant_modules(path_folder, markers, "pythonpath")
    for folder in (notebook_folder, path_folder):
        for early in ("jupyter_sandbox", "sitecustomize", "usercustomize"):
            (folder / f"{early}.py").unlink()
    specs = base / "kernels"
    (specs / "sandboxed-plain").mkdir(parents=True)
    (specs / "sandboxed-plain" / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "jupyter_sandbox.kernel", "-f", "{connection_file}"],
        "display_name": "no -I", "language": "python", "interrupt_mode": "message"}))
    manager = KernelManager(kernel_name="sandboxed-plain",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)]))
    _run_kernel(manager, notebook_folder, _env(base, PYTHONPATH=str(path_folder)))
    assert sorted(p.name for p in markers.iterdir()) == []


def test_notebook_opened_through_a_real_server(base):
    markers = base / "markers"
    (base / "server").mkdir()
    with running_server(base / "server") as server:
        project = server.root_dir / "project"
        plant_modules(project, markers, "server")
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "sandboxed-python", "language": "python",
                                           "display_name": "Sandboxed Python"}
        nbformat.write(notebook, project / "analysis.ipynb")
        with server.client() as http:
            response = http.post("api/sessions", json={
                "path": "project/analysis.ipynb", "name": "analysis.ipynb", "type": "notebook",
                "kernel": {"name": "sandboxed-python"}})
            response.raise_for_status()
            kernel = attach_kernel(server, response.json()["kernel"]["id"])
            try:
                _exercise(kernel.client)
                assert kernel.stdout("import os; print(sorted(os.listdir('/workspace'))[:2])") \
                    == "['analysis.ipynb', 'hashlib.py']\n"  # the folder is there, as data
            finally:
                kernel.client.stop_channels()
                http.delete(f"api/kernels/{kernel.id}")
    assert sorted(p.name for p in markers.iterdir()) == []
