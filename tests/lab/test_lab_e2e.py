"""The JupyterLab extension in a real browser: a ``jupyter lab`` subprocess (random port, token,
root, its own config/data/runtime folders) driven by Debian's headless chromium through
playwright-core (``e2e.js``, run with node). It creates a Sandboxed Python notebook, runs a
cell, serves an app, opens its preview in a new tab and in a JupyterLab tab, opens the sandbox
panel, snapshots, changes a variable, restores and sees the old value, then shuts the kernel
down and sees the preview marked as stopped. Screenshots of every step go to
``test-artifacts/lab-e2e/``; any browser console error or failed HTTP request fails the test.

Needs node, ``/usr/bin/chromium`` (``apt-get install chromium``), ``labextension/node_modules``
(``npm ci`` in labextension/) and the built extension installed (``pip install .``). Without
them the test is skipped, except under CI (``CI=true``), where it fails."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_driver import browser_node, run_driver
from tests.jupyter_process import jupyter_process

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "lab-e2e"
STARTUP_TIMEOUT = 90
E2E_TIMEOUT = 480

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def running_lab(base: Path) -> Iterator[tuple[str, str, list[str]]]:
    """``jupyter lab`` with runtime, config, data and root folders under ``base``: (url, token,
    log lines)."""
    runtime, config, data, root = base / "rt", base / "cfg", base / "data", base / "root"
    for folder in (runtime, config, data, root):
        folder.mkdir()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_DATA_DIR": str(data)}
    env.pop("JUPYTER_SANDBOX_SERVER_URL", None)
    command = [sys.executable, "-m", "jupyter", "lab", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with jupyter_process(command, root=root, env=env,
                         startup_timeout=STARTUP_TIMEOUT) as running:
        yield running.url, running.token, running.log_lines


@pytest.mark.timeout(600)
def test_previews_panel_snapshots_in_chromium() -> None:
    browser_node(needs_labextension=True)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    # Short: the kernels' control sockets live in the runtime folder (108-byte limit).
    base = Path(tempfile.mkdtemp(prefix="jsl-", dir="/tmp"))
    try:
        with running_lab(base) as (url, token, log):
            try:
                report = run_driver(
                    Path(__file__).with_name("e2e.js"),
                    {"LAB_URL": url, "LAB_TOKEN": token, "ARTIFACTS": str(ARTIFACTS)},
                    E2E_TIMEOUT, log=ARTIFACTS / "e2e.log",
                    context=lambda: "--- jupyter lab log (tail) ---\n" + "".join(log[-40:]))
            finally:
                (ARTIFACTS / "jupyter-lab.log").write_text("".join(log))
        assert report == {"ok": True}
    finally:
        shutil.rmtree(base, ignore_errors=True)
