"""Issue 12, item 8 (snapshots): named snapshots count against a per-sandbox budget.

Before, ``%snapshot save`` in a loop put 631 MiB on the host's disk from a sandbox with an
8 MiB quota. Now each sandbox may keep ``snapshot_max_count`` named snapshots taking at most
``snapshot_max_bytes`` (kernel traits ``snapshot_max_count``/``snapshot_max_mib``); a save
beyond it is refused with what to do, and overwriting a name counts only the difference.
"""

from __future__ import annotations

import pytest

from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.errors import SnapshotBudgetError
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.security.snapshot_kernel import sandbox_kernel, text


def _save(sandbox: Sandbox, name: str) -> tuple[str, str]:
    messages: list[dict] = []
    reply = sandbox.execute(f"%snapshot save {name}", messages.append)
    said = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
    return reply.status, said + reply.evalue


def test_the_count_is_limited_and_overwriting_is_free(tmp_path):
    limits = Limits(snapshot_max_count=2)
    with Sandbox(SandboxConfig(limits=limits, snapshot_dir=tmp_path)) as sandbox:
        assert _save(sandbox, "one")[0] == "ok"
        assert _save(sandbox, "two")[0] == "ok"
        status, said = _save(sandbox, "three")
        assert status == "error"
        assert "already keeps 2 named snapshots" in said and "%snapshot delete NAME" in said
        assert sorted(p.name for p in tmp_path.iterdir()) == ["one.snap", "two.snap"]
        assert _save(sandbox, "two")[0] == "ok"  # the same name: replaced, not one more
        with pytest.raises(SnapshotBudgetError):
            sandbox.save_named("three")  # the API (and the control endpoint) too
        sandbox.execute("%snapshot delete one")
        assert _save(sandbox, "three")[0] == "ok"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["three.snap", "two.snap"]


def test_the_bytes_are_limited_counting_the_difference_on_overwrite(tmp_path):
    with Sandbox(SandboxConfig(snapshot_dir=tmp_path / "probe")) as probe:
        size = probe.save_named("probe").size
    limits = Limits(snapshot_max_bytes=int(size * 2.5))
    with Sandbox(SandboxConfig(limits=limits, snapshot_dir=tmp_path / "named")) as sandbox:
        assert _save(sandbox, "a")[0] == "ok"
        assert _save(sandbox, "b")[0] == "ok"
        status, said = _save(sandbox, "c")
        assert status == "error"
        assert "past its limit" in said and "snapshot_max_mib" in said
        assert "%snapshot delete NAME" in said
        assert not (tmp_path / "named" / "c.snap").exists()
        assert _save(sandbox, "a")[0] == "ok"  # replacing a counts only the difference
        total = sum(p.stat().st_size for p in (tmp_path / "named").iterdir())
        assert total <= limits.snapshot_max_bytes


def test_kernel_traits_set_the_budget(tmp_path):
    with sandbox_kernel(tmp_path, "--SandboxKernel.host_folder_mode=off",
                        "--SandboxKernel.snapshot_max_count=1",
                        "--SandboxKernel.workspace_quota_mib=8") as kernel:
        assert kernel.execute("%snapshot save first")[0]["status"] == "ok"
        for attempt in range(3):
            reply, outputs = kernel.execute(f"%snapshot save more{attempt}")
            assert reply["status"] == "error"
            assert "snapshot_max_count = 1" in reply["evalue"] + text(outputs)
        assert sorted(p.name for p in kernel.snapshot_dir.iterdir()) == ["first.snap"]
        assert kernel.execute("%snapshot delete first\n")[0]["status"] == "ok"
        assert kernel.execute("%snapshot save second")[0]["status"] == "ok"
        assert sorted(p.name for p in kernel.snapshot_dir.iterdir()) == ["second.snap"]
