"""Issue 17's browser check: a notebook opened in a real ``jupyter lab`` (with the
``PooledKernelManager``) gets the pre-started Sandboxed Python kernel, sees its own folder at
``/workspace`` (and imports the module beside it), and restart and shutdown from JupyterLab's
Kernel menu work. Driven by ``pooled_e2e.js`` in Debian's headless chromium; screenshots in
``test-artifacts/lab-pooled/``. Prerequisites as for test_lab_e2e.py (skipped without them,
except under CI)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.browser_driver import browser_node, run_driver
from tests.jupyter_process import jupyter_process
from tests.server.conftest import Server
from tests.server.test_pooled_kernels import MANAGER, wait_for_pool

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "lab-pooled"
NOTEBOOK = "project/analysis.ipynb"

pytestmark = pytest.mark.slow


def write_project(root: Path) -> None:
    folder = root / "project"
    folder.mkdir()
    (folder / "data.csv").write_text("city,people\nLyon,522000\n")
    (folder / "helper.py").write_text("def greet():\n    return 'hello from helper.py'\n")
    notebook = {"cells": [], "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "sandboxed-python", "language": "python",
                                            "display_name": "Sandboxed Python"}}}
    (root / NOTEBOOK).write_text(json.dumps(notebook))


@pytest.mark.timeout(600)
def test_notebook_in_lab_gets_a_pooled_kernel_with_its_folder() -> None:
    browser_node(needs_labextension=True)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    base = Path(tempfile.mkdtemp(prefix="jsp-", dir="/tmp"))  # short: socket paths
    try:
        runtime, config, data, root = base / "rt", base / "cfg", base / "data", base / "root"
        for folder in (runtime, config, data, root):
            folder.mkdir()
        write_project(root)
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime),
               "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(data)}
        env.pop("JUPYTER_SANDBOX_SERVER_URL", None)
        command = [sys.executable, "-m", "jupyter", "lab", "--LabApp.news_url=None",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                   f"--ServerApp.kernel_manager_class={MANAGER}",
                   "--PooledKernelManager.prespawn=1"]
        with jupyter_process(command, root=root, env=env, startup_timeout=90) as running:
            server = Server(running.url, running.token, runtime, root, running.log_lines)
            try:
                pooled = wait_for_pool(server)
                report = run_driver(
                    Path(__file__).with_name("pooled_e2e.js"),
                    {"LAB_URL": running.url, "LAB_TOKEN": running.token,
                     "ARTIFACTS": str(ARTIFACTS), "NOTEBOOK": NOTEBOOK},
                    480, log=ARTIFACTS / "e2e.log",
                    context=lambda: "--- jupyter lab log (tail) ---\n"
                                    + "".join(running.log_lines[-40:]))
            finally:
                (ARTIFACTS / "jupyter-lab.log").write_text("".join(running.log_lines))
        assert report == {"ok": True, "kernel_id": pooled}, "the notebook's kernel was not " \
            "the pre-started one"
    finally:
        shutil.rmtree(base, ignore_errors=True)
