"""examples/refusals.ipynb with a local Sandboxed Python kernel through nbclient (the tour runs
in tests/kernel/test_notebooks.py; both run through a server in test_binder.py)."""

from __future__ import annotations

import shutil

import nbformat

from .conftest import EXAMPLES, StopPressingClient, check_refusals

MEMORY_LIMIT_MIB = 384


def test_refusals_notebook_shows_each_refusal_and_keeps_the_kernel(tmp_path):
    shutil.copy(EXAMPLES / "refusals.ipynb", tmp_path)
    notebook = nbformat.read(tmp_path / "refusals.ipynb", as_version=4)
    client = StopPressingClient(
        notebook, kernel_name="sandboxed-python", timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
        extra_arguments=[f"--SandboxKernel.memory_limit_mib={MEMORY_LIMIT_MIB}"])
    client.execute()
    (interrupt,) = client.interrupts
    interrupt.result()  # the interrupt request itself succeeded
    check_refusals(notebook, tmp_path, MEMORY_LIMIT_MIB)
