"""Issue 12, item 5: a kernel whose start snapshot is bad starts clean and says so.

A kernel can start from ``$JUPYTER_SANDBOX_SNAPSHOT``, ``SandboxKernel.start_from_snapshot``
or a checkpoint restored while no kernel ran (``notebook_state.pending_restore_path``). Before,
a corrupt one left a kernel that never answered. Now the kernel starts a clean sandbox, says why
in the first cell's output and in its log, and answers every cell.
"""

from __future__ import annotations

import os

import pytest

from jupyter_sandbox.kernel import notebook_state
from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.security.snapshot_kernel import sandbox_kernel, text

NOTICE = "could not be used, so the sandbox started clean"


def _foreign_snapshot(tmp_path) -> bytes:
    with Sandbox(SandboxConfig(snapshot_key_file=tmp_path / "elsewhere.key")) as other:
        other.execute("planted = 'state from elsewhere'")
        return other.snapshot()


@pytest.mark.parametrize("how", ["env-corrupt", "trait-foreign", "env-missing"])
def test_a_bad_start_snapshot_gives_a_clean_kernel_that_says_so(tmp_path, how):
    start = tmp_path / "start.snap"
    if how == "env-corrupt":
        start.write_bytes(b"JSBSNAP\x00" + os.urandom(10_000))
    elif how == "trait-foreign":
        start.write_bytes(_foreign_snapshot(tmp_path))
    arguments = ["--SandboxKernel.host_folder_mode=off"]
    env = {}
    if how == "trait-foreign":
        arguments.append(f"--SandboxKernel.start_from_snapshot={start}")
    else:
        env["JUPYTER_SANDBOX_SNAPSHOT"] = str(start)
    with sandbox_kernel(tmp_path, *arguments, env=env) as kernel:
        reply, outputs = kernel.execute("x = 1 + 1\nprint(x)")
        assert reply["status"] == "ok"
        said = text(outputs, "stderr")
        assert NOTICE in said and str(start) in said
        assert text(outputs, "stdout") == "2\n"
        reply, outputs = kernel.execute("print('planted' in globals())")
        assert NOTICE not in text(outputs)  # said once
        assert text(outputs, "stdout") == "False\n"
        log = kernel.log()
        assert "cannot be used" in log and str(start) in log


def test_a_bad_pending_checkpoint_state_gives_a_clean_kernel(tmp_path):
    """A checkpoint's snapshot was replaced on disk, then reverted while no kernel ran: the
    next kernel for the notebook starts clean, says so, and the bad state is consumed."""
    folder = tmp_path / "project"
    folder.mkdir()
    data_dir = tmp_path / "jupyter-data"
    data_dir.mkdir()
    pending = _pending_path(data_dir, folder / "analysis.ipynb")
    pending.parent.mkdir(parents=True)
    pending.write_bytes(_foreign_snapshot(tmp_path))
    with sandbox_kernel(tmp_path, env={"JPY_SESSION_NAME": "analysis.ipynb"},
                        cwd=folder) as kernel:
        reply, outputs = kernel.execute("print('answered')")
        assert reply["status"] == "ok"
        assert NOTICE in text(outputs, "stderr")
        assert "not made by this jupyter-sandbox installation" in text(outputs, "stderr")
        assert text(outputs, "stdout") == "answered\n"
        assert not pending.exists()


def _pending_path(data_dir, notebook) -> os.PathLike[str]:
    """Where the kernel (with ``JUPYTER_DATA_DIR=data_dir``) looks for the notebook's state."""
    previous = os.environ.get("JUPYTER_DATA_DIR")
    os.environ["JUPYTER_DATA_DIR"] = str(data_dir)
    try:
        return notebook_state.pending_restore_path(str(notebook))
    finally:
        if previous is None:
            del os.environ["JUPYTER_DATA_DIR"]
        else:
            os.environ["JUPYTER_DATA_DIR"] = previous
