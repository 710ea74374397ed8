"""Hostile notebook code against sandbox processes (issue 15), in real sandboxes: fork bombs
hit the process limit with a clear error and the sandbox goes on; killed processes leave
neither a thread nor a guest instance behind; file names full of shell metacharacters are
data; a command that never ends is stopped by its time limit and by interrupt."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

from jupyter_sandbox.runtime.errors import ProcessLimitError
from jupyter_sandbox.runtime.guest_instance import GuestInstance
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text

WAIT = 120


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        assert sandbox.execute("import subprocess, sys, os").status == "ok"
        yield sandbox


def cell(sandbox: Sandbox, code: str) -> tuple[object, str, str]:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    return reply, stream_text(messages), stream_text(messages, "stderr")


def wait_until_no_processes(sandbox: Sandbox) -> None:
    deadline = time.monotonic() + WAIT
    while sandbox.status()["processes"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox.status()["processes"] == []


def test_popen_in_a_loop_hits_the_process_limit_and_the_sandbox_stays_responsive(box):
    reply, out, _err = cell(box, (
        "children = []\n"
        "try:\n"
        "    for _ in range(1000):\n"
        "        children.append(subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(600)']))\n"
        "except BlockingIOError as error:\n"
        "    print(len(children), error)"))
    assert reply.status == "ok"
    assert out.startswith("8 [Errno ")  # EAGAIN, as fork past RLIMIT_NPROC
    assert "] the sandbox already runs 8 processes, its limit (Limits.max_processes" in out
    assert len(box.status()["processes"]) == 8
    # the host API sees the same limit
    with pytest.raises(ProcessLimitError):
        box.processes.start(["true"])
    reply, out, _err = cell(box, "print(6 * 7)")
    assert reply.status == "ok" and out == "42\n"
    reply, out, _err = cell(box, "for c in children: c.kill()\nprint({c.wait() for c in children})")
    assert out == "{-9}\n"
    wait_until_no_processes(box)
    assert box.processes.start(["true"]).wait(WAIT) == 0


def test_a_script_that_spawns_itself_stops_at_the_limit(box):
    reply, out, err = cell(box, (
        "open('/tmp/bomb.py', 'w').write('import subprocess, sys\\n"
        "depth = int(sys.argv[1])\\n"
        "print(depth, flush=True)\\n"
        "subprocess.run([sys.executable, __file__, str(depth + 1)], check=True)\\n')\n"
        "r = subprocess.run([sys.executable, '/tmp/bomb.py', '1'], capture_output=True, "
        "text=True)\n"
        "print(r.returncode, r.stdout.split())\n"
        "print(r.stderr)"))
    assert reply.status == "ok"
    first, _, rest = out.partition("\n")
    assert first == "1 ['1', '2', '3', '4', '5', '6', '7', '8']"  # 8 processes at once
    assert "BlockingIOError: [Errno " in rest
    assert "] the sandbox already runs 8 processes" in rest
    wait_until_no_processes(box)
    reply, out, _err = cell(box, "print('responsive')")
    assert out == "responsive\n"


def test_killed_background_processes_leave_no_thread_or_instance_behind(box):
    def census() -> tuple[int, int, int]:
        gc.collect()
        instances = sum(1 for o in gc.get_objects() if isinstance(o, GuestInstance))
        return threading.active_count(), instances, box.processes.budget.held()

    box.processes.start(["true"]).wait(WAIT)  # the spare instance now exists
    deadline = time.monotonic() + WAIT
    while box.processes._spare is None or not box.processes._spare.ready.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    baseline = census()
    for _ in range(100):
        handle = box.processes.start(["python", "-c", "import time; time.sleep(600)"])
        handle.kill()
        assert handle.wait(WAIT) == -9
    deadline = time.monotonic() + WAIT
    while census() != baseline and time.monotonic() < deadline:
        time.sleep(0.05)  # the last spare may still be getting ready
    assert census() == baseline
    assert box.processes.threads() and len(box.processes.threads()) == 1  # the spare only
    reply, out, _err = cell(box, "print('fine')")
    assert out == "fine\n"


def test_cell_started_background_processes_killed_from_the_cell_leave_nothing(box):
    box.processes.start(["true"]).wait(WAIT)
    time.sleep(0.5)
    threads = threading.active_count()
    reply, out, _err = cell(box, (
        "for _ in range(20):\n"
        "    p = subprocess.Popen(['sleep', '600'])\n"
        "    p.kill()\n"
        "    assert p.wait() == -9\n"
        "print('done')"))
    assert reply.status == "ok" and out == "done\n"
    wait_until_no_processes(box)
    deadline = time.monotonic() + WAIT
    while threading.active_count() != threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == threads


NASTY_NAMES = ["a;b", "$(touch pwned)", "`touch pwned`", "x*", "q'uote\"d", "-rf", "sp ace",
               "semi;rm -rf ~", "new\nline", "&&", "|cat", ">out", "$HOME"]


def test_shell_metacharacters_in_file_names_are_data(box):
    reply, out, err = cell(box, (
        f"names = {NASTY_NAMES!r}\n"
        "os.makedirs('/workspace/nasty', exist_ok=True)\n"
        "os.chdir('/workspace/nasty')\n"
        "for n in names:\n"
        "    open(n, 'w').write('content of ' + n)\n"
        "seen = subprocess.run([sys.executable, '-c', 'import sys; print(repr(sys.argv[1:]))', "
        "*names], capture_output=True, text=True).stdout\n"
        "print(seen == repr(names) + '\\n')\n"
        "cats = [subprocess.run(['cat', '--', n], capture_output=True, text=True).stdout "
        "for n in names]\n"
        "print(cats == ['content of ' + n for n in names])\n"
        "import shlex\n"
        "line = 'cat -- ' + ' '.join(shlex.quote(n) for n in names)\n"
        "print(subprocess.run(['sh', '-c', line], capture_output=True, text=True).stdout == "
        "''.join('content of ' + n for n in names))\n"
        "print(sorted(os.listdir('.')) == sorted(names))\n"
        "os.chdir('/workspace')"))
    assert reply.status == "ok", (out, err, reply)
    assert out == "True\nTrue\nTrue\nTrue\n"
    assert not box.files.exists("/workspace/nasty/pwned")
    assert not box.files.exists("/workspace/pwned")


def test_a_command_that_never_ends_is_stopped_by_its_time_limit_and_by_interrupt(box):
    reply, out, _err = cell(box, (
        "try:\n    subprocess.run(['python', '-c', 'while True: pass'], timeout=1)\n"
        "except subprocess.TimeoutExpired:\n    print('stopped by timeout')"))
    assert out == "stopped by timeout\n"
    handle = box.processes.start(["python", "-c", "while True: pass"], timeout=1)
    assert handle.wait(WAIT) == -9
    results: list = []
    runner = threading.Thread(target=lambda: results.append(cell(
        box, "subprocess.run(['python', '-c', 'while True: pass'])")))
    runner.start()
    deadline = time.monotonic() + WAIT
    while not box.status()["processes"] and time.monotonic() < deadline:
        time.sleep(0.01)
    box.interrupt()
    runner.join(WAIT)
    assert results and results[0][0].ename == "KeyboardInterrupt"
    wait_until_no_processes(box)
    assert cell(box, "print(1)")[1] == "1\n"


def test_binary_and_invalid_utf8_output_through_pipes_byte_for_byte(box):
    reply, out, err = cell(box, (
        "import random\n"
        "blob = bytes(random.getrandbits(8) for _ in range(3 << 20)) + b'\\xc3\\x28\\xff'\n"
        "open('/tmp/blob', 'wb').write(blob)\n"
        "code = 'import sys; d = open(\"/tmp/blob\", \"rb\").read(); "
        "sys.stdout.buffer.write(d); sys.stderr.buffer.write(d[::-1])'\n"
        "r = subprocess.run([sys.executable, '-c', code], capture_output=True)\n"
        "print(r.stdout == blob, r.stderr == blob[::-1], len(r.stdout))\n"
        "p = subprocess.Popen(['cat'], stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
        "print(p.communicate(blob)[0] == blob)\n"
        "q = subprocess.Popen(['sh', '-c', 'cat /tmp/blob | cat'], stdout=subprocess.PIPE)\n"
        "print(q.stdout.read() == blob, q.wait())"))
    assert reply.status == "ok", err
    assert out == f"True True {(3 << 20) + 3}\nTrue\nTrue 0\n"
