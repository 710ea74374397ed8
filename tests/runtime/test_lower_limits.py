"""``Sandbox.lower_limits``: limits of a running sandbox lowered (pool hand-over) take effect
for the guest at once — memory through the live store, the workspace quota, later cells' time
limit — and can never be raised."""

from __future__ import annotations

import pytest

from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.errors import LimitRaiseError
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.sandbox.limits import lowered

MiB = 1 << 20


def test_lowered_memory_limit_makes_memoryerror_beyond_it_and_session_goes_on():
    with Sandbox() as sandbox:  # default limit: 2 GiB
        assert sandbox.execute("fits = bytearray(300 * 1024 * 1024); del fits").status == "ok"
        sandbox.execute("survivor = 'still here'")
        new = sandbox.lower_limits(memory_bytes=max(256 * MiB, sandbox.usage().memory_bytes))
        assert sandbox.status()["limits"]["memory_bytes"] == new.memory_bytes
        reply = sandbox.execute("hog = bytearray(600 * 1024 * 1024)")
        assert (reply.status, reply.ename) == ("error", "MemoryError")
        messages: list[dict] = []
        assert sandbox.execute("survivor", messages.append).status == "ok"
        assert messages[-1]["content"]["data"]["text/plain"] == "'still here'"


def test_lowered_memory_limit_holds_after_a_restore():
    """A restore makes a new store: it gets the lowered limit too."""
    with Sandbox() as sandbox:
        sandbox.execute("x = 41")
        data = sandbox.snapshot()
        sandbox.lower_limits(memory_bytes=256 * MiB)
        sandbox.restore(data)
        reply = sandbox.execute("hog = bytearray(600 * 1024 * 1024)")
        assert (reply.status, reply.ename) == ("error", "MemoryError")
        messages: list[dict] = []
        sandbox.execute("x + 1", messages.append)
        assert messages[-1]["content"]["data"]["text/plain"] == "42"


def test_raising_a_limit_is_refused_and_changes_nothing():
    with Sandbox(SandboxConfig(limits=Limits(memory_bytes=512 * MiB, cell_timeout=60))) as box:
        with pytest.raises(LimitRaiseError, match="only be lowered"):
            box.lower_limits(memory_bytes=1024 * MiB)
        with pytest.raises(LimitRaiseError, match="cell timeout"):
            box.lower_limits(cell_timeout=120)
        assert box.status()["limits"]["memory_bytes"] == 512 * MiB
        assert box.status()["limits"]["cell_timeout"] == 60
        assert box.execute("bytearray(300 * 1024 * 1024) and None").status == "ok"


def test_memory_limit_below_what_the_guest_has_is_refused():
    with Sandbox() as sandbox:
        used = sandbox.usage().memory_bytes
        with pytest.raises(LimitRaiseError, match="already used"):
            sandbox.lower_limits(memory_bytes=used - MiB)


def test_lowered_workspace_quota_refuses_writes_beyond_it():
    with Sandbox() as sandbox:
        sandbox.lower_limits(workspace_bytes=sandbox.quota.used_bytes + 2 * MiB)
        reply = sandbox.execute(
            "open('/workspace/big.bin', 'wb').write(b'x' * (4 * 1024 * 1024))")
        assert reply.status == "error"
        assert reply.ename == "OSError"
        assert sandbox.status()["limits"]["workspace_bytes"] == sandbox.quota.max_bytes
        assert sandbox.execute("open('/workspace/small.txt', 'w').write('ok')").status == "ok"


def test_lowered_cell_timeout_stops_later_cells():
    with Sandbox() as sandbox:
        assert sandbox.status()["limits"]["cell_timeout"] is None
        sandbox.lower_limits(cell_timeout=1.0)
        reply = sandbox.execute("while True:\n    pass")
        assert reply.ename == "TimeoutError"
        assert sandbox.execute("1 + 1").status == "ok"


def test_lowered_checks_each_value():
    base = Limits()
    assert lowered(base, 0, 0, 0, cell_timeout=5).cell_timeout == 5
    assert lowered(base, 0, 0, 0).memory_bytes == base.memory_bytes
    with pytest.raises(ValueError, match="at least 64 MiB"):
        lowered(base, 0, 0, 0, memory_bytes=32 * MiB)
    with pytest.raises(LimitRaiseError, match="workspace file limit"):
        lowered(base, 0, 0, 50, workspace_files=10)
