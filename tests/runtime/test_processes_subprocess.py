"""``subprocess``, ``os.system``, ``!cmd`` and the shell starting real sandbox processes from
notebook code, in a real sandbox (the guest's ``SandboxPopen`` over ``proc_*`` host calls)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text

from .process_cells import cell, ok

WAIT = 120


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        reply = sandbox.execute("import subprocess, sys, os, time")
        assert reply.status == "ok"
        yield sandbox



def test_run_sys_executable_capture_output(box):
    assert ok(box, "r = subprocess.run([sys.executable, '-c', 'print(1)'], "
                   "capture_output=True)\nprint(repr(r.stdout), r.returncode)") == "b'1\\n' 0\n"
    assert ok(box, "print(subprocess.check_output(['python3', '-c', "
                   "'import sys; print(sys.argv[1])', 'x y'], text=True), end='')") == "x y\n"


def test_check_call_and_called_process_error(box):
    text = ok(box, "try:\n    subprocess.check_call([sys.executable, '-c', "
                   "'raise SystemExit(4)'])\nexcept subprocess.CalledProcessError as e:\n"
                   "    print('status', e.returncode)")
    assert text == "status 4\n"


def test_inherited_output_reaches_the_cell_while_the_child_runs(box):
    reply, messages = cell(box, (
        "p = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nfor i in range(3):\\n    print(i, flush=True)\\n    time.sleep(0.1)'])\n"
        "print('started', flush=True)\n"
        "print('status', p.wait())"))
    assert reply.status == "ok"
    texts = [m["content"]["text"] for m in messages if m["msg_type"] == "stream"]
    # the notebook's own line and its child's race, as with a real child on ipykernel
    assert "".join(t for t in texts if t != "started\n") == "0\n1\n2\nstatus 0\n"
    assert "started\n" in texts
    # the child's lines arrived as separate messages while the cell waited, not in one lump
    assert len([t for t in texts if t.strip() in {"0", "1", "2"}]) >= 2


def test_popen_pipes_communicate_and_input(box):
    text = ok(box, (
        "p = subprocess.Popen([sys.executable, '-c', 'import sys; data = sys.stdin.read(); "
        "print(data.upper()); print(len(data), file=sys.stderr)'], stdin=subprocess.PIPE, "
        "stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)\n"
        "out, err = p.communicate('hello\\nworld')\nprint(repr(out), repr(err), p.returncode)"))
    assert text == "'HELLO\\nWORLD\\n' '11\\n' 0\n"


def test_a_dialogue_over_pipes_with_a_running_child(box):
    text = ok(box, (
        "p = subprocess.Popen([sys.executable, '-c', 'import sys\\nfor line in sys.stdin:\\n"
        "    print(int(line) * 2, flush=True)'], stdin=subprocess.PIPE, "
        "stdout=subprocess.PIPE, text=True, bufsize=1)\n"
        "for n in (1, 2, 3):\n    p.stdin.write(f'{n}\\n')\n"
        "    print(p.stdout.readline(), end='')\n"
        "p.stdin.close()\nprint('exit', p.wait())"))
    assert text == "2\n4\n6\nexit 0\n"


def test_poll_wait_timeout_kill_terminate(box):
    text = ok(box, (
        "p = subprocess.Popen(['sleep', '600'])\n"
        "print(p.poll())\n"
        "try:\n    p.wait(timeout=0.2)\nexcept subprocess.TimeoutExpired as e:\n"
        "    print('timeout', e.timeout)\n"
        "p.kill()\nprint(p.wait(), p.returncode, p.poll())\n"
        "q = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "q.terminate()\nprint(q.wait())"))
    assert text == "None\ntimeout 0.2\n-9 -9 -9\n-15\n"


def test_run_timeout_kills_a_child_that_never_ends(box):
    text = ok(box, (
        "t = time.monotonic()\n"
        "try:\n    subprocess.run([sys.executable, '-c', 'while True: pass'], timeout=0.5)\n"
        "except subprocess.TimeoutExpired as e:\n    print('TimeoutExpired', e.timeout)\n"
        "import jupyter_sandbox_guest.processes as pr\n"
        "print([p['state'] for p in pr.listing() if p['argv'][-1] == 'while True: pass'])"))
    assert text == "TimeoutExpired 0.5\n['killed']\n"


def test_background_popen_keeps_running_across_cells_then_is_killed(box):
    # The child writes each beat to a new file and renames it over the old one, so a reader
    # never sees the file between truncation and write (an empty read).
    ok(box, (
        "open('/tmp/serve.py', 'w').write('import os, time, sys\\nn = 0\\nwhile True:\\n"
        "    n += 1\\n    open(\"/tmp/beat.new\", \"w\").write(str(n))\\n"
        "    os.replace(\"/tmp/beat.new\", \"/tmp/beat.txt\")\\n"
        "    time.sleep(0.05)\\n')\n"
        "server = subprocess.Popen([sys.executable, '/tmp/serve.py'])"))
    try:
        pid = int(ok(box, "print(server.pid)"))
        deadline = time.monotonic() + WAIT
        beats = []
        while time.monotonic() < deadline:  # later cells run while it runs, and it goes on
            beat = ok(box, "print(open('/tmp/beat.txt').read() "
                           "if os.path.exists('/tmp/beat.txt') else 0)")
            beats.append(int(beat))
            if len(set(beats)) >= 3:
                break
        assert len(set(beats)) >= 3 and beats == sorted(beats)
        assert pid in [p["pid"] for p in box.status()["processes"]]
        assert ok(box, "print(server.poll())") == "None\n"
        assert ok(box, "server.kill(); print(server.wait())") == "-9\n"
        assert pid not in [p["pid"] for p in box.status()["processes"]]
    finally:  # never leave it running for the module's later tests
        box.execute("server.kill()", lambda _message: None)


def test_shell_line_with_an_external_program_in_a_pipe(box):
    ok(box, "open('script.py', 'w').write('import sys\\nfor i in range(10): print(i, "
            "sys.argv[1])\\n')")
    assert ok(box, "!python script.py arg | head -3") == "0 arg\n1 arg\n2 arg\n"
    assert ok(box, "x = !python3 -c 'print(6*7)'\nprint(x)") == "['42']\n"
    assert ok(box, "print(os.system('python -c \"import sys; sys.exit(3)\"') >> 8)") == "3\n"
    assert ok(box, "%%sh\npython -c 'print(\"a\\nb\")' | wc -l > n.txt\ncat n.txt\n") == "2\n"


def test_binary_and_invalid_utf8_pass_through_pipes_intact(box):
    text = ok(box, (
        "data = bytes(range(256)) * 300 + b'\\xff\\xfe\\x80 end'\n"
        "open('/tmp/blob.bin', 'wb').write(data)\n"
        "out = subprocess.run([sys.executable, '-c', 'import sys; "
        "sys.stdout.buffer.write(sys.stdin.buffer.read())'], input=data, "
        "capture_output=True).stdout\n"
        "print(out == data, len(out))\n"
        "print(subprocess.run(['sh', '-c', 'cat /tmp/blob.bin'], capture_output=True)"
        ".stdout == data)"))
    assert text == f"True {256 * 300 + 7}\nTrue\n"


def test_stdout_to_a_file_and_stderr_to_stdout(box):
    text = ok(box, (
        "with open('/tmp/log.txt', 'w') as f:\n"
        "    subprocess.run([sys.executable, '-c', 'import sys; print(\"out\"); "
        "print(\"err\", file=sys.stderr)'], stdout=f, stderr=subprocess.STDOUT)\n"
        "print(repr(open('/tmp/log.txt').read()))\n"
        "r = subprocess.run([sys.executable, '-c', 'import sys; print(\"o\", flush=True); "
        "print(\"e\", file=sys.stderr)'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
        "print(r.stdout)"))
    assert text in ("'out\\nerr\\n'\nb'o\\ne\\n'\n", "'err\\nout\\n'\nb'o\\ne\\n'\n")


def test_a_child_starts_its_own_child(box):
    text = ok(box, (
        "print(subprocess.run([sys.executable, '-c', 'import subprocess, sys; "
        "print(subprocess.run([sys.executable, \"-c\", \"print(7)\"], capture_output=True, "
        "text=True).stdout.strip()); subprocess.run([\"echo\", \"inherited\"]); "
        "subprocess.run([sys.executable, \"-c\", \"print(8)\"])'], capture_output=True, "
        "text=True).stdout)"))
    assert text == "7\ninherited\n8\n\n"


def test_unknown_program_and_missing_cwd(box):
    text = ok(box, (
        "for argv, kw in ((['gcc'], {}), (['python', '-c', 'pass'], {'cwd': '/nope'})):\n"
        "    try:\n        subprocess.run(argv, **kw)\n"
        "    except FileNotFoundError as e:\n        print('FileNotFoundError', e.filename)"))
    assert text == "FileNotFoundError gcc\nFileNotFoundError /nope\n"


def test_interrupting_the_cell_interrupts_its_foreground_child(box):
    results: list = []
    done = threading.Event()

    def run_cell() -> None:
        results.append(cell(box, "subprocess.run([sys.executable, '-c', "
                                 "'import time\\nprint(\"child up\", flush=True)\\n"
                                 "time.sleep(600)'])"))
        done.set()

    runner = threading.Thread(target=run_cell)
    runner.start()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not any(
            p["argv"][0] == "/usr/local/bin/python.wasm" for p in box.status()["processes"]):
        time.sleep(0.01)
    time.sleep(0.2)
    box.interrupt()
    assert done.wait(WAIT)
    runner.join()
    reply, _messages = results[0]
    assert reply.status == "error" and reply.ename == "KeyboardInterrupt"
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and box.status()["processes"]:
        time.sleep(0.01)
    assert box.status()["processes"] == []
    assert ok(box, "print('still fine')") == "still fine\n"


def test_child_output_counts_against_the_output_cap():
    from jupyter_sandbox.runtime.config import Limits, SandboxConfig

    with Sandbox(SandboxConfig(limits=Limits(output_bytes=64 << 10))) as sandbox:
        messages: list[dict] = []
        reply = sandbox.execute("import subprocess, sys\nsubprocess.run([sys.executable, '-c', "
                                "'print(\"x\" * 1000000)'])\nprint('after')", messages.append)
        assert reply.status == "ok"
        shown = stream_text(messages)
        assert 0 < shown.count("x") <= 64 << 10  # the rest, and the cell's own, dropped
        assert "output limit" in stream_text(messages, "stderr")


def test_restore_stops_running_processes_and_says_so():
    with Sandbox() as sandbox:
        data = sandbox.snapshot()
        assert sandbox.execute("import subprocess\np = subprocess.Popen(['sleep', '600'])"
                               ).status == "ok"
        assert len(sandbox.status()["processes"]) == 1
        sandbox.snapshot()  # taken without it: it keeps running
        assert sandbox.execute("assert p.poll() is None").status == "ok"
        assert len(sandbox.status()["processes"]) == 1
        sandbox.restore(data)
        assert sandbox.status()["processes"] == []
        messages: list[dict] = []
        assert sandbox.execute("1", messages.append).status == "ok"
        notice = stream_text(messages, "stderr")
        assert "stopped and not restored" in notice and "sleep 600" in notice
        # a Popen kept in a restored state (a fork's, a snapshot's) sees its process killed
        assert sandbox.execute("import subprocess\np = subprocess.Popen(['sleep', '600'])"
                               ).status == "ok"
        data = sandbox.snapshot()
        sandbox.restore(data)
        messages = []
        assert sandbox.execute("print(p.poll(), p.wait())", messages.append).status == "ok"
        assert stream_text(messages) == "-9 -9\n"


def test_pip_as_a_program_lists_packages(box):
    text = ok(box, "!pip list")
    lines = text.splitlines()
    assert lines[0].split() == ["Package", "Version"] and any(
        line.split()[0] == "numpy" for line in lines[2:])
    assert ok(box, "!pip frobnicate; echo $?").endswith("1\n")


def test_sandbox_magic_lists_running_processes(box):
    ok(box, "bg = subprocess.Popen(['sleep', '600'])")
    text = ok(box, "%sandbox")
    assert "processes   1 running:" in text and "sleep 600" in text
    ok(box, "bg.kill(); bg.wait()")
    assert "processes   0 running" in ok(box, "%sandbox")


def test_the_cell_time_limit_stops_a_cell_waiting_for_its_child():
    from jupyter_sandbox.runtime.config import Limits, SandboxConfig

    with Sandbox(SandboxConfig(limits=Limits(cell_timeout=1.0))) as sandbox:
        messages: list[dict] = []
        reply = sandbox.execute("import subprocess, sys\nsubprocess.run([sys.executable, '-c', "
                                "'while True: pass'])", messages.append)
        assert reply.status == "error" and reply.ename == "TimeoutError"
        deadline = time.monotonic() + WAIT
        while sandbox.status()["processes"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sandbox.status()["processes"] == []  # run() killed it on the way out
        assert sandbox.execute("print('next')", messages.append).status == "ok"
