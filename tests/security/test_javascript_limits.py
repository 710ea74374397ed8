"""Hostile JavaScript run by the sandbox's ``node`` (runtime/javascript): it cannot reach the
host's files, cannot write past the sandbox's quota, cannot run for ever or eat the host's
memory, and whatever it does ends only its own run.

Each attack runs against a real sandbox (its VFS, quota and files API), and the test checks the
host side too: marker files, the upper layer's disk usage, threads, child processes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psutil
import pytest

from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.javascript import JavaScriptLimits
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.runtime.javascript_helpers import node, node_in_thread
from tests.waiting import wait_for

#: Generous: the machine is shared; a stop normally takes milliseconds.
DEADLINE = 60.0


def _disk_usage(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def small_sandbox(tmp_path):
    limits = Limits(workspace_bytes=1 << 20, workspace_files=50)
    with Sandbox(SandboxConfig(limits=limits, state_dir=tmp_path / "state")) as sandbox:
        yield sandbox


def test_host_files_are_not_readable(shared_sandbox, tmp_path):
    marker = tmp_path / "host-secret.txt"
    marker.write_text("host secret")
    assert Path("/etc/passwd").is_file()  # the host has one; the sandbox must not see it
    for path in ("/etc/passwd", "../../../../../etc/passwd", str(marker),
                 str(shared_sandbox.state_dir / "workspace"), "/proc/self/environ"):
        result = node(shared_sandbox.vfs, "-e",
                      f"const fs = require('fs'); try {{ fs.readFileSync({path!r}); "
                      f"console.log('READ') }} catch (e) {{ console.log(e.code) }}"
                      f"; console.log(fs.existsSync({path!r}))")
        assert result.out == "ENOENT\nfalse\n", path
    listing = node(shared_sandbox.vfs, "-e", "console.log(JSON.stringify(require('fs')"
                                               ".readdirSync('/')))")
    assert "etc" not in listing.out and "proc" not in listing.out and "root" not in listing.out


def test_writes_outside_the_writable_folders_are_refused_and_touch_no_host_file(
        shared_sandbox, tmp_path):
    target = tmp_path / "planted.txt"
    for path in (str(target), "/etc/evil.txt", "/usr/local/lib/python315.zip",
                 "/node-root-file.txt"):
        result = node(shared_sandbox.vfs, "-e",
                      f"try {{ require('fs').writeFileSync({path!r}, 'x') ; console.log('WROTE')"
                      f" }} catch (e) {{ console.log(e.code) }}")
        assert result.out in ("ENOENT\n", "EROFS\n"), (path, result.out)
    assert not target.exists()
    assert not Path("/etc/evil.txt").exists() and not Path("/node-root-file.txt").exists()


def test_quota_exceeded_is_a_js_error_and_nothing_beyond_it_reaches_the_host(small_sandbox):
    upper = small_sandbox.state_dir / "workspace"
    result = node(small_sandbox.vfs, "-e", """
        const fs = require('fs');
        try { fs.writeFileSync('huge.bin', Buffer.alloc(2 * 1024 * 1024)) }
        catch (e) { console.log(e.code, e.message) }
        let written = 0;
        try { for (;;) { fs.appendFileSync('grow.bin', Buffer.alloc(64 * 1024)); written++ } }
        catch (e) { console.log(e.code, written < 20) }
        let files = 0;
        try { for (;;) { fs.writeFileSync('f' + files, ''); files++ } }
        catch (e) { console.log(e.code, files <= 50) }
    """)
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("EDQUOT EDQUOT: disk quota exceeded")
    assert lines[1:] == ["EDQUOT true", "EDQUOT true"]
    assert not small_sandbox.files.exists("/workspace/huge.bin")
    assert _disk_usage(upper) <= 1 << 20
    uncaught = node(small_sandbox.vfs, "-e",
                    "require('fs').writeFileSync('again.bin', Buffer.alloc(2 << 20))")
    assert uncaught.status == 1 and "EDQUOT" in uncaught.err


def _assert_stopped_by_cancel(vfs, code: str) -> None:
    cancel = threading.Event()
    thread, results = node_in_thread(vfs, "-e", code, cancel=cancel)
    thread.join(0.5)
    assert thread.is_alive(), "the script should still be running"
    cancel.set()
    wait_for(lambda: not thread.is_alive(), "node stopped after cancel", DEADLINE)
    assert results[0].status == 130


def test_infinite_loop_is_stopped_by_cancel(shared_sandbox):
    _assert_stopped_by_cancel(shared_sandbox.vfs, "while (true) {}")


def test_catching_the_interrupt_does_not_keep_a_loop_alive(shared_sandbox):
    _assert_stopped_by_cancel(shared_sandbox.vfs,
                              "for (;;) { try { for (;;) {} } catch (e) {} finally { } }")


def test_a_long_timer_is_stopped_by_cancel(shared_sandbox):
    _assert_stopped_by_cancel(shared_sandbox.vfs, "setTimeout(() => {}, 3600 * 1000)")


def test_infinite_loop_is_stopped_by_the_time_limit(shared_sandbox):
    result = node(shared_sandbox.vfs, "-e", "let i = 0; while (true) { i++ }",
                  limits=JavaScriptLimits(time_seconds=0.5))
    assert result.status == 124
    assert "time limit" in result.err


@pytest.mark.parametrize("mib", [32, 64])
def test_memory_bomb_fails_alone_with_a_clear_message(shared_sandbox, mib):
    # (where the allocation fails differs with the limit: at 32 MiB QuickJS cannot even make
    # its "out of memory" error and throws null; the message must be the same)
    result = node(shared_sandbox.vfs, "-e", "let a = []; while (1) a.push(new Array(1e6))",
                  limits=JavaScriptLimits(memory_bytes=mib << 20))
    assert result.status == 1
    assert result.err.startswith("InternalError: out of memory")
    assert f"memory limit ({mib} MiB) was reached" in result.err
    # the sandbox and the next JavaScript run are unaffected
    messages: list[dict] = []
    assert shared_sandbox.execute("40 + 2", messages.append).status == "ok"
    assert node(shared_sandbox.vfs, "-e", "console.log('still here')").out == "still here\n"


def test_string_doubling_bomb_fails_alone(shared_sandbox):
    result = node(shared_sandbox.vfs, "-e", "let s = 'x'; for (;;) s += s",
                  limits=JavaScriptLimits(memory_bytes=64 << 20))
    assert result.status == 1 and result.err.startswith("InternalError")


def test_runaway_recursion_ends_only_that_run(shared_sandbox):
    result = node(shared_sandbox.vfs, "-e", "function f() { return f() + 1 } f()")
    assert result.status == 1
    assert result.err.startswith("RangeError: Maximum call stack size exceeded")
    assert node(shared_sandbox.vfs, "-e", "console.log(1+1)").out == "2\n"


def test_nothing_runs_on_the_host_but_the_engine(shared_sandbox):
    me = psutil.Process(os.getpid())
    children_before = {p.pid for p in me.children(recursive=True)}
    result = node(shared_sandbox.vfs, "-e", """
        for (const name of ['child_process', 'node:child_process', 'worker_threads', 'net', 'vm']) {
            try { require(name); console.log('LOADED', name) } catch (e) { console.log(e.code) }
        }
        console.log(typeof globalThis.os, typeof globalThis.std, typeof globalThis.scriptArgs);
    """)
    assert result.out.splitlines() == ["MODULE_NOT_FOUND"] * 5 + ["undefined undefined undefined"]
    assert {p.pid for p in me.children(recursive=True)} <= children_before


def test_cancelled_runs_leave_no_thread_behind(shared_sandbox):
    before = threading.active_count()
    for _ in range(5):
        _assert_stopped_by_cancel(shared_sandbox.vfs, "while (true) {}")
    wait_for(lambda: threading.active_count() <= before, "the watcher threads ended", DEADLINE)


def test_the_epoch_hard_stop_ends_a_run_that_ignores_the_soft_interrupt(shared_sandbox,
                                                                       monkeypatch):
    """Should QuickJS never poll its interrupt handler (a long call inside the engine), the
    guard's watcher arms the hard stop and ticks the epoch: the instance traps, the run ends
    with 130 and the next run works."""
    from jupyter_sandbox.runtime.javascript import limits

    monkeypatch.setattr(limits.RunGuard, "should_interrupt", lambda self: False)
    monkeypatch.setattr(limits, "HARD_STOP_GRACE", 0.1)
    _assert_stopped_by_cancel(shared_sandbox.vfs, "while (true) {}")
    monkeypatch.undo()
    assert node(shared_sandbox.vfs, "-e", "console.log('next')").out == "next\n"


def test_reading_a_file_larger_than_the_memory_allows_is_enomem(shared_sandbox):
    shared_sandbox.files.write_bytes("/tmp/large.bin", bytes(24 << 20))
    result = node(shared_sandbox.vfs, "-e", "try { require('fs').readFileSync('/tmp/large.bin') }"
                                            " catch (e) { console.log(e.code) }",
                  limits=JavaScriptLimits(memory_bytes=32 << 20))
    assert (result.status, result.out) == (0, "ENOMEM\n")
    shared_sandbox.files.delete("/tmp/large.bin")
