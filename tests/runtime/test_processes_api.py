"""Sandbox processes through the host API (``Sandbox.processes``, INTERFACES.md A), in a real
sandbox: each process is a guest instance of its own, sharing the sandbox's files."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_sandbox.runtime.errors import ProgramNotFoundError
from jupyter_sandbox.runtime.processes import ProcessState
from jupyter_sandbox.runtime.processes.programs import BUILTIN_COMMANDS
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text

WAIT = 120


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def output(handle, stream: str | None = None) -> bytes:
    return b"".join(c.data for c in handle.read_output() if stream in (None, c.stream))


def test_python_c_argv_exit_status_and_output(box):
    handle = box.processes.start(
        ["python", "-c", "import sys; print('hi', sys.argv[1:]); "
         "print('oops', file=sys.stderr); sys.exit(3)", "a b", "*"])
    assert handle.wait(WAIT) == 3
    assert output(handle, "stdout") == b"hi ['a b', '*']\n"
    assert output(handle, "stderr") == b"oops\n"
    info = handle.info()
    assert info.state is ProcessState.EXITED and info.exit_code == 3 and info.origin == "api"
    assert info.ended_at is not None and info.ended_at >= info.started_at


@pytest.mark.parametrize(("code", "status"), [
    ("pass", 0), ("raise SystemExit", 0), ("raise SystemExit(None)", 0),
    ("import sys; sys.exit(300)", 300), ("import sys; sys.exit('bye')", 1),
    ("import os; os._exit(7)", 7)])
def test_exit_statuses_as_cpython(box, code, status):
    handle = box.processes.start(["python3", "-c", code])
    assert handle.wait(WAIT) == status


def test_uncaught_exception_is_status_1_with_its_traceback_on_stderr(box):
    handle = box.processes.start(["python", "-c", "def f():\n    1/0\nf()"])
    assert handle.wait(WAIT) == 1
    err = output(handle, "stderr").decode()
    assert err.startswith("Traceback (most recent call last):\n  File \"<string>\", line 3")
    assert err.endswith("ZeroDivisionError: division by zero\n")
    assert "process_main" not in err  # the sandbox's own frames are not shown


def test_env_and_cwd_and_the_shared_filesystem(box):
    box.files.mkdir("/workspace/procdir", parents=True)
    box.files.write_bytes("/workspace/procdir/data.txt", b"shared\n")
    handle = box.processes.start(
        ["python", "-c", "import os; print(os.getcwd(), os.environ['GREETING']); "
         "print(open('data.txt').read(), end=''); open('made.txt', 'w').write('by child')"],
        cwd="/workspace/procdir", env={"GREETING": "hello"})
    assert handle.wait(WAIT) == 0, output(handle)
    assert output(handle) == b"/workspace/procdir hello\nshared\n"
    assert box.files.read_bytes("/workspace/procdir/made.txt") == b"by child"


def test_script_path_with_arguments_and_module(box):
    box.files.write_bytes("/workspace/tool.py", b"import sys\nprint(__name__, sys.argv)\n")
    handle = box.processes.start(["python", "tool.py", "x", "--y"])
    assert handle.wait(WAIT) == 0
    assert output(handle) == b"__main__ ['tool.py', 'x', '--y']\n"
    handle = box.processes.start(["python", "-m", "json.tool"], stdin=b'{"a": [1]}')
    assert handle.wait(WAIT) == 0
    assert output(handle) == b'{\n    "a": [\n        1\n    ]\n}\n'
    missing = box.processes.start(["python", "nosuch.py"])
    assert missing.wait(WAIT) == 2
    assert b"can't open file '/workspace/nosuch.py'" in output(missing)


def test_stdin_kept_open_is_written_then_closed(box):
    handle = box.processes.start(
        ["python", "-c", "import sys\nfor line in sys.stdin:\n"
         "    print(line.strip().upper(), flush=True)"], keep_stdin_open=True)
    handle.write_stdin(b"one\n")
    assert handle.read_output(0, timeout=WAIT)[0].data == b"ONE\n"
    handle.write_stdin(b"two\n")
    assert handle.read_output(1, timeout=WAIT)[0].data == b"TWO\n"
    handle.close_stdin()
    assert handle.wait(WAIT) == 0
    assert output(handle) == b"ONE\nTWO\n"
    with pytest.raises(BrokenPipeError):
        handle.write_stdin(b"late\n")


def test_builtins_and_sh_c_run_as_processes(box):
    handle = box.processes.start(["sh", "-c", "echo one two | wc -w; ls / | grep -c tmp"])
    assert handle.wait(WAIT) == 0
    assert output(handle) == b"2\n1\n"
    handle = box.processes.shell("nosuchtool")
    assert handle.wait(WAIT) == 127
    assert b"command not found in the sandbox" in output(handle)


def test_unknown_program_is_refused_with_what_can_run(box):
    with pytest.raises(ProgramNotFoundError) as caught:
        box.processes.start(["gcc", "x.c"])
    assert isinstance(caught.value, FileNotFoundError)
    message = str(caught.value)
    assert message.startswith("gcc: not found in the sandbox") and "python" in message
    assert "ls" in message and "node" in message
    with pytest.raises(ProgramNotFoundError):
        box.processes.start(["/opt/bin/python"])


def test_logs_can_be_read_again_from_the_start(box):
    handle = box.processes.start(
        ["python", "-c", "import sys, time\nfor i in range(3):\n    print(i, flush=True)\n"
         "    time.sleep(0.05)"])
    seen: list[bytes] = []
    offset = 0
    while True:
        chunks = handle.read_output(offset, timeout=WAIT)
        if not chunks:
            break
        seen += [c.data for c in chunks]
        offset = chunks[-1].offset + 1
    assert b"".join(seen) == b"0\n1\n2\n"
    assert [c.offset for c in handle.read_output(0)] == list(range(len(handle.read_output(0))))
    assert b"".join(c.data for c in handle.read_output(0)) == b"0\n1\n2\n"
    assert handle.read_output(offset, timeout=0.01) == []


def test_kill_stops_a_sleeping_process_with_status_minus_9(box):
    handle = box.processes.start(["python", "-c", "import time; time.sleep(600)"])
    assert handle.wait(0.2) is None
    assert handle.info().state is ProcessState.RUNNING
    handle.kill()
    assert handle.wait(WAIT) == -9
    assert handle.info().state is ProcessState.KILLED


def test_interrupt_raises_keyboardinterrupt_in_the_child(box):
    handle = box.processes.start(
        ["python", "-c", "import time\n"
         "try:\n    print('ready', flush=True)\n    time.sleep(600)\n"
         "except KeyboardInterrupt:\n    print('caught')\n    raise SystemExit(5)"])
    assert handle.read_output(0, timeout=WAIT)[0].data == b"ready\n"
    handle.interrupt()
    assert handle.wait(WAIT) == 5
    assert output(handle) == b"ready\ncaught\n"
    busy = box.processes.start(["python", "-c", "while True: pass"])
    assert busy.wait(0.2) is None
    busy.interrupt()
    assert busy.wait(WAIT) == -2  # uncaught KeyboardInterrupt: killed by SIGINT, as CPython
    assert output(busy, "stderr").endswith(b"KeyboardInterrupt\n")


def test_time_limit_stops_a_command_that_never_ends(box):
    handle = box.processes.start(["python", "-c", "while True: pass"], timeout=0.5)
    assert handle.wait(WAIT) == -9
    assert b"ran past its time limit of 0.5 s" in output(handle, "stderr")
    sleeper = box.processes.start(["sleep", "600"], timeout=0.3)
    assert sleeper.wait(WAIT) == -9


def test_status_lists_running_processes(box):
    handle = box.processes.start(["sleep", "600"])
    try:
        assert handle.wait(0.1) is None
        listed = [p for p in box.status()["processes"] if p["pid"] == handle.pid]
        assert listed and listed[0]["argv"] == ["sleep", "600"]
        assert listed[0]["state"] == "running" and listed[0]["memory_bytes"] > 0
        assert box.processes.get(handle.pid) is handle
    finally:
        handle.kill()
    handle.wait(WAIT)
    assert handle.pid not in [p["pid"] for p in box.status()["processes"]]
    assert handle.pid in [p.pid for p in box.processes.list()]  # recently ended
    with pytest.raises(KeyError):
        box.processes.get(99999)


def test_builtin_command_names_match_the_guest(run):
    """The host's list of built-ins (it cannot import the guest package) is the guest's."""
    reply, messages = run(
        "from jupyter_sandbox_guest.commands import builtins, runner\n"
        "print(sorted(n for n, p in builtins.PROGRAMS.items() if p is not runner._external))")
    assert reply.status == "ok"
    assert eval(stream_text(messages)) == sorted(BUILTIN_COMMANDS)


def test_close_kills_running_processes_and_leaves_no_thread():
    before = {t.ident for t in threading.enumerate()}
    sandbox = Sandbox()
    handle = sandbox.processes.start(["sleep", "600"])
    assert handle.wait(0.1) is None
    sandbox.close()
    assert handle.info().state is ProcessState.KILLED
    left = [t for t in threading.enumerate() if t.ident not in before
            and re.match(rf"sandbox-{sandbox.id}-", t.name)]
    for thread in left:
        thread.join(30)
    assert not [t for t in left if t.is_alive()]


def test_a_process_writing_into_a_host_folder_layer_changes_nothing_on_the_host(tmp_path):
    host = tmp_path / "notebook"
    host.mkdir()
    (host / "keep.txt").write_text("host file")
    from jupyter_sandbox.runtime.config import HostFolderMode, SandboxConfig

    with Sandbox(SandboxConfig(host_folder=host, host_folder_mode=HostFolderMode.OVERLAY)) as sb:
        handle = sb.processes.shell("echo changed > keep.txt; rm -f keep.txt; echo new > n.txt")
        assert handle.wait(WAIT) == 0, output(handle)
        assert sb.files.read_bytes("/workspace/n.txt") == b"new\n"
    assert (host / "keep.txt").read_text() == "host file"
    assert sorted(p.name for p in Path(host).iterdir()) == ["keep.txt"]


def test_node_is_a_process_like_the_others(box):
    handle = box.processes.start(["node", "-e", "console.log(1 + 1); process.exit(3)"])
    assert handle.wait(WAIT) == 3
    assert output(handle) == b"2\n"
    spinning = box.processes.start(["node", "-e", "while (true) {}"])
    assert spinning.wait(0.2) is None
    spinning.interrupt()
    assert spinning.wait(WAIT) == 130
    spinning = box.processes.start(["node", "-e", "while (true) {}"])
    assert spinning.wait(0.2) is None
    spinning.kill()
    assert spinning.wait(WAIT) == -9 and spinning.info().state is ProcessState.KILLED


def test_processes_writing_at_once_keep_the_shared_quota_exact(box):
    """The VFS and quota are shared by every process's thread: concurrent creates and writes
    are counted exactly (the lock), and the quota's file count matches the files made."""
    before_files, before_bytes = box.quota.used_files, box.quota.used_bytes
    handles = [box.processes.start(
        ["python", "-c", f"import os\nos.makedirs('/tmp/w{i}')\nfor n in range(40):\n"
         f"    with open(f'/tmp/w{i}/{{n}}', 'wb') as f:\n        f.write(b'x' * 1000)"])
        for i in range(4)]
    assert [h.wait(WAIT) for h in handles] == [0, 0, 0, 0], [output(h) for h in handles]
    assert box.quota.used_files - before_files == 4 * 41
    assert box.quota.used_bytes - before_bytes == 4 * 40 * 1000
    cleanup = box.processes.shell("rm -r /tmp/w0 /tmp/w1 /tmp/w2 /tmp/w3")
    assert cleanup.wait(WAIT) == 0
    assert (box.quota.used_files, box.quota.used_bytes) == (before_files, before_bytes)
