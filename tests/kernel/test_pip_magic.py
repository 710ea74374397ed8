"""``%pip`` through a real sandboxed-python kernel: install from a --find-links folder in the
notebook's folder (offline), import, snapshot/restore, refusals, the kernel's pip traits."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel

from jupyter_sandbox.runtime.packages import COMPILED_REFUSAL, builtin_distributions
from tests.wheels import build_test_wheels

TIMEOUT = 120
LOCAL = "--no-index -f wheels"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> Iterator[BlockingKernelClient]:
    folder = tmp_path_factory.mktemp("notebook")
    config = tmp_path_factory.mktemp("config")  # never the notebook's folder: not trusted
    build_test_wheels(folder / "wheels")
    (config / "jupyter_sandbox_kernel_config.py").write_text(
        f"c.SandboxKernel.pip_deny = ['padded']\n"
        f"c.SandboxKernel.snapshot_dir = {str(folder / 'snapshots')!r}\n")
    km, kc = start_new_kernel(kernel_name="sandboxed-python", cwd=str(folder),
                              env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)})
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _execute(kc: BlockingKernelClient, code: str) -> tuple[dict, str, list[dict]]:
    """(execute_reply content, stdout text, every output message)."""
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, output_hook=outputs.append, timeout=TIMEOUT)
    text = "".join(m["content"].get("text", "") for m in outputs
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")
    return reply["content"], text, outputs


def test_install_streams_progress_and_imports_in_the_same_cell(kernel):
    reply, text, outputs = _execute(kernel, f"%pip install {LOCAL} tinytop\n"
                                            "import tinytop\nprint(tinytop.run())")
    assert reply["status"] == "ok", reply
    streams = [m for m in outputs if m["msg_type"] == "stream"]
    assert len(streams) > 2  # pip's lines arrive one by one while it works
    assert "Processing" in text
    assert "Successfully installed tinybase-1.0 tinytop-1.0" in text
    assert text.rstrip().endswith("hello top")


def test_installed_packages_survive_snapshot_restore(kernel):
    _execute(kernel, f"%pip install -q {LOCAL} tinytop")
    reply, text, _ = _execute(kernel, "%snapshot save with-tinytop")
    assert reply["status"] == "ok" and "saved" in text
    reply, text, _ = _execute(kernel, "%pip uninstall tinytop tinybase")
    assert "Successfully uninstalled tinytop-1.0" in text
    reply, text, _ = _execute(kernel, "%pip list")
    assert "tinytop" not in text and "numpy" in text
    reply, text, _ = _execute(kernel, "%snapshot restore with-tinytop")
    assert "Restored" in text
    reply, text, _ = _execute(kernel, "import sys\nfor name in ('tinytop', 'tinybase'):\n"
                                      "    sys.modules.pop(name, None)\n"
                                      "import tinytop\nprint(tinytop.run())")
    assert reply["status"] == "ok", reply
    assert "hello top" in text


def test_refusals(kernel):
    reply, _, _ = _execute(kernel, f"%pip install {LOCAL} fastthing")
    assert reply["status"] == "error" and reply["evalue"] == f"fastthing {COMPILED_REFUSAL}"
    reply, _, _ = _execute(kernel, "%pip install numpy")
    version = builtin_distributions()["numpy"].version
    assert f"numpy is built into the sandbox (version {version})" in reply["evalue"]
    reply, _, _ = _execute(kernel, f"%pip install {LOCAL} padded")
    assert reply["evalue"] == "padded is blocked by the administrator's deny list"
