"""The sandbox's own magics: %sandbox and %sandbox files."""

from __future__ import annotations

from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text


def test_sandbox_magics_show_limits_usage_mounts_and_files(tmp_path):
    limits = Limits(memory_bytes=512 << 20, workspace_bytes=64 << 20)
    with Sandbox(SandboxConfig(limits=limits, host_folder=tmp_path)) as sandbox:
        (tmp_path / "from_host.csv").write_text("a,b\n1,2\n")
        sandbox.files.write_bytes("made_inside.txt", b"12345")
        messages: list[dict] = []
        sandbox.execute("%sandbox", messages.append)
        status = stream_text(messages)
        assert "of 512.0 MiB" in status and "of 64.0 MiB" in status
        assert "/workspace" in status and str(tmp_path) in status and "overlay" in status
        messages = []
        sandbox.execute("%sandbox files", messages.append)
        listing = stream_text(messages)
        assert "from_host.csv  (8 bytes)" in listing and "made_inside.txt  (5 bytes)" in listing
