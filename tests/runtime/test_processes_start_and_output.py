"""Sandbox processes: starts from the prepared image (no ``prepare()`` per process), the
spare restored at once when starts come back to back, ``Popen(LINE, shell=True)`` running in
the background, and where a background process's output goes between cells."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from jupyter_sandbox.runtime import guest_instance
from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.processes import prepared_image, runner
from jupyter_sandbox.runtime.processes.cell_output import MAX_HELD, CellOutput
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



def stderr_text(messages: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in messages
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")


def until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- 1. start speed: the prepared image, the spare -------------------------------------------
def test_processes_start_from_the_prepared_image_without_running_prepare(box, monkeypatch):
    prepared_image.forget()
    prepares: list[str] = []
    lock = threading.Lock()
    real_turn = guest_instance.GuestInstance.turn

    def counting_turn(self, source: str) -> int:
        if source == runner.PREPARE_SOURCE:
            with lock:
                prepares.append(threading.current_thread().name)
        return real_turn(self, source)

    monkeypatch.setattr(guest_instance.GuestInstance, "turn", counting_turn)
    outputs = []
    for n in range(6):
        process = box.processes.start(["python", "-c", f"import sys; print({n} * 7)"])
        assert process.wait(WAIT) == 0
        outputs.append(process.log.text("stdout"))
    assert outputs == [f"{n * 7}\n".encode() for n in range(6)]
    # The first instance (and a spare restored at the same time) prepare; later ones
    # restore what prepare() left. Without the prepared image every instance prepares.
    assert 1 <= len(prepares) <= 2, prepares


def test_a_process_from_the_prepared_image_is_a_plain_fresh_process(box):
    box.processes.start(["python", "-c", "pass"]).wait(WAIT)  # the image exists now
    script = ("import sys, os, random, signal\n"
              "line = input()\n"
              "print(line, os.getcwd(), os.environ.get('X'), sys.argv[1:],"
              " signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
              " sys.stdout.isatty(), random.random())\n")
    seen = []
    for _ in range(2):
        process = box.processes.start(["python", "-c", script, "a b"], env={"X": "y"},
                                      cwd="/tmp", stdin=b"hello\n")
        assert process.wait(WAIT) == 0, process.log.text()
        words = process.log.text("stdout").decode().split()
        assert words[:-1] == ["hello", "/tmp", "y", "['a", "b']", "True", "False"]
        seen.append(words[-1])
    assert seen[0] != seen[1]  # each process draws its own random numbers
    looping = box.processes.start(["python", "-c", "import time\nwhile True: time.sleep(0.01)"])
    until(lambda: looping.info().memory_bytes > 0 and looping._instance is not None,
          "the looping process to run")
    looping.interrupt()
    assert looping.wait(WAIT) == -2, looping.log.text("stderr")
    assert b"KeyboardInterrupt" in looping.log.text("stderr")


def test_starts_back_to_back_restore_the_next_spare_at_once(box):
    table = box.processes
    first = table.start(["python", "-c", "import sys; sys.stdin.read()"], keep_stdin_open=True)
    # Whether the first start found a ready spare or not, a second one right after it does
    # not: the spare made for the next start must not wait for these processes to end.
    second = table.start(["python", "-c", "import sys; sys.stdin.read()"], keep_stdin_open=True)
    spare = table._spare
    assert spare is not None
    assert spare._after is None  # restored at once, not once `second` ends
    until(spare.ready.is_set, "the spare to be ready while both processes still run")
    assert first.info().state == "running" and second.info().state == "running"
    for process in (first, second):
        process.close_stdin()
        assert process.wait(WAIT) == 0
    # A start that found its spare ready lets the next spare wait for it (it competes for
    # the CPU with a short process otherwise).
    until(lambda: table._spare is not None and table._spare.ready.is_set(), "a ready spare")
    third = table.start(["python", "-c", "pass"])
    assert third.wait(WAIT) == 0
    assert table._spare is not None and table._spare._after is not None


def test_the_spare_counts_in_the_memory_budget(box):
    table = box.processes
    table.start(["python", "-c", "pass"]).wait(WAIT)
    until(lambda: table._spare is not None and table._spare.ready.is_set(), "a ready spare")
    key = table._spare.budget_key
    assert table.budget.granted(key) > 0


# -- 2. Popen(LINE, shell=True) in the background --------------------------------------------
def run_cell_with_deadline(box: Sandbox, code: str) -> tuple[object, list[dict]]:
    """A cell that must end by itself (it must not wait for its background process)."""
    result: list[tuple[object, list[dict]]] = []
    thread = threading.Thread(target=lambda: result.append(cell(box, code)), daemon=True)
    thread.start()
    thread.join(WAIT)
    if thread.is_alive():
        box.interrupt()
        thread.join(WAIT)
        pytest.fail("the cell waited for its shell=True process")
    return result[0]


def test_popen_shell_true_runs_in_the_background_and_can_be_killed(box):
    reply, messages = run_cell_with_deadline(
        box, "p = subprocess.Popen('sleep 100000', shell=True)\nprint(p.pid)")
    assert reply.status == "ok", messages  # type: ignore[attr-defined]
    pid = int(stream_text(messages))
    running = {p["pid"]: p for p in box.status()["processes"]}
    assert running[pid]["argv"] == ["sh", "-c", "sleep 100000"]
    assert ok(box, "print(p.poll())") == "None\n"
    try:
        p_wait = ok(box, "try:\n    p.wait(timeout=0.1)\nexcept subprocess.TimeoutExpired:\n"
                         "    print('still running')")
        assert p_wait == "still running\n"
    finally:
        assert ok(box, "p.kill(); print(p.wait())") == "-9\n"
    assert pid not in [p["pid"] for p in box.status()["processes"]]


def test_popen_shell_true_server_like_script_keeps_running_while_cells_run(box):
    # Each beat is written to a new file renamed over the old one: a reader never catches the
    # file between truncation and write.
    ok(box, "open('/tmp/beat.py', 'w').write('import os, time\\nn = 0\\nwhile True:\\n"
            "    n += 1\\n    open(\"/tmp/shbeat.new\", \"w\").write(str(n))\\n"
            "    os.replace(\"/tmp/shbeat.new\", \"/tmp/shbeat.txt\")\\n"
            "    time.sleep(0.02)\\n')")
    reply, messages = run_cell_with_deadline(
        box, "server = subprocess.Popen('cd /tmp && python beat.py', shell=True, "
             "stdout=subprocess.DEVNULL)")
    assert reply.status == "ok", messages  # type: ignore[attr-defined]
    try:
        beats: list[int] = []
        deadline = time.monotonic() + WAIT
        while len(set(beats)) < 3 and time.monotonic() < deadline:
            beats.append(int(ok(box, "print(open('/tmp/shbeat.txt').read() "
                                     "if os.path.exists('/tmp/shbeat.txt') else 0)")))
        assert len(set(beats)) >= 3 and beats == sorted(beats)
        assert ok(box, "server.terminate(); print(server.wait())") == "-15\n"
    finally:  # never leave it running for the module's later tests
        box.execute("server.kill()", lambda _message: None)


def test_shell_true_with_pipes_and_os_popen_still_work(box):
    before = len(box.processes.list())
    assert ok(box, "print(os.popen('echo one; echo two | wc -c').read(), end='')"
              ) == "one\n4\n"
    assert ok(box, "print(os.system('true'))") == "0\n"
    assert len(box.processes.list()) == before  # os.popen and os.system run in-process
    assert ok(box, "r = subprocess.run('echo $V | wc -c; false', shell=True, "
                   "capture_output=True, text=True, env={'V': 'abc'})\n"
                   "print(repr(r.stdout), r.returncode)") == "'4\\n' 1\n"
    assert ok(box, "p = subprocess.Popen('cat', shell=True, stdin=subprocess.PIPE, "
                   "stdout=subprocess.PIPE)\nprint(p.communicate(b'piped')[0])") == "b'piped'\n"


# -- 3. background output between cells -------------------------------------------------------
CHATTY = (
    "import os, sys, time\n"
    "def wait_for(path):\n"
    "    while not os.path.exists(path): time.sleep(0.01)\n"
    "wait_for('/tmp/go1'); print('between cells', flush=True); open('/tmp/said1', 'w').close()\n"
    "wait_for('/tmp/go2'); print('during a cell', flush=True); open('/tmp/said2', 'w').close()\n"
    "time.sleep(100000)\n"
)


def exists_in_sandbox(box: Sandbox, path: str) -> bool:
    probe = box.processes.start(["python", "-c", f"import os, sys; sys.exit(0 if "
                                 f"os.path.exists({path!r}) else 1)"])
    return probe.wait(WAIT) == 0


def test_background_output_while_no_cell_runs_goes_to_the_log_with_a_notice(box):
    ok(box, f"open('/tmp/chatty.py', 'w').write({CHATTY!r})\n"
            "chatty = subprocess.Popen([sys.executable, '/tmp/chatty.py'])")
    pid = int(ok(box, "print(chatty.pid)"))
    # No cell runs now: the process is told to write, from the host.
    assert box.processes.start(["touch", "/tmp/go1"]).wait(WAIT) == 0
    until(lambda: exists_in_sandbox(box, "/tmp/said1"), "the process to write between cells")
    process = box.processes.get(pid)
    assert process.log.text("stdout") == b"between cells\n"
    reply, messages = cell(box, "print('next cell')")
    assert stream_text(messages) == "next cell\n"  # not the output of before the cell
    notice = stderr_text(messages)
    assert f"process {pid} (" in notice and "14 bytes of output while no cell was running" \
        in notice and f"%sandbox logs {pid}" in notice
    assert stderr_text(cell(box, "print('again')")[1]) == ""  # said once
    # While a cell runs, the process's output goes to that cell.
    text = ok(box, "open('/tmp/go2', 'w').close()\n"
                   "while not os.path.exists('/tmp/said2'): time.sleep(0.01)")
    assert text == "during a cell\n"
    log_text = ok(box, f"%sandbox logs {pid}")
    assert log_text == f"between cells\nduring a cell\n[process {pid}: running]\n"
    assert ok(box, "chatty.kill(); print(chatty.wait())") == "-9\n"


def test_much_output_between_cells_is_capped_and_the_cell_gets_only_a_notice():
    limits = Limits(output_bytes=64 << 10, process_log_bytes=256 << 10)
    with Sandbox(SandboxConfig(limits=limits)) as sandbox:
        code = ("import subprocess, sys\n"
                "p = subprocess.Popen([sys.executable, '-c', 'import os, time\\n"
                "while not os.path.exists(\"/tmp/go\"): time.sleep(0.01)\\n"
                "for _ in range(1024): print(\"x\" * 1023)\\n"
                "import sys; sys.stdout.flush(); open(\"/tmp/done\", \"w\").close()\\n"
                "time.sleep(100000)'])\nprint(p.pid)")
        reply, messages = cell(sandbox, code)
        assert reply.status == "ok", messages  # type: ignore[attr-defined]
        pid = int(stream_text(messages))
        assert stderr_text(messages) == ""
        assert not exists_in_sandbox(sandbox, "/tmp/go")
        assert sandbox.processes.start(["touch", "/tmp/go"]).wait(WAIT) == 0
        until(lambda: exists_in_sandbox(sandbox, "/tmp/done"), "1 MiB written between cells")
        log = sandbox.processes.get(pid).log
        assert len(log.text("stdout")) == 256 << 10  # the log's cap, then its notice
        assert b"output log is full" in log.text("stderr")
        reply, messages = cell(sandbox, "print('ok')")
        assert stream_text(messages) == "ok\n"
        assert "1,048,576 bytes of output while no cell was running" in stderr_text(messages)
        sandbox.processes.get(pid).kill()


def test_cell_output_holds_one_counter_per_process_at_most():
    running = [False]
    output = CellOutput(1024, lambda: running[0])

    class Fake:
        def __init__(self, pid: int) -> None:
            self.pid, self.argv = pid, ["python", "x.py"]

    for pid in range(100, 100 + MAX_HELD * 3):
        sink = output.sink(1, lambda pid=pid: Fake(pid))  # type: ignore[misc,return-value]
        for _ in range(10):
            sink(b"y" * 1000)
    assert len(output._held) == MAX_HELD
    assert output._queue == type(output._queue)()  # nothing kept for a cell
    notices: list[str] = []

    class Cell:
        def notify(self, text: str) -> None:
            notices.append(text)

        def fd_write(self, fd: int, data: bytes) -> None:
            raise AssertionError("between-cells output must not reach a cell")

    output.drain_into(Cell())  # type: ignore[arg-type]
    assert notices == []  # not into an operation that is not a cell
    running[0] = True
    output.drain_into(Cell())  # type: ignore[arg-type]
    assert len(notices) == MAX_HELD
    assert "other processes wrote 1,290,000 bytes" in notices[0]
    assert not output.pending()


# -- an interrupt delivered on the way into a sleep ---------------------------------------------
def test_interrupt_delivered_just_before_a_sleep_still_wakes_the_process(monkeypatch):
    """The race seen once in test_processes_api: the interrupt reaches the guest (an epoch
    check trips SIGINT) inside ``time.sleep``'s C code, after Python's last signal check and
    before ``poll_oneoff``. Delivering used to clear the wake-up, so the poll then slept its
    full 600 s. Forced here: the interrupt is requested from inside the sleep's own clock
    read (``clock_time_get``, called by pysleep just before it polls)."""
    from jupyter_sandbox.runtime import wasi

    armed: dict[str, object] = {}
    real_clock = wasi.Wasi.clock_time_get

    def clock_time_get(self, caller, clock_id, precision, out):
        hook = armed.pop(id(self.state), None) if armed else None
        if hook is not None:
            hook()  # type: ignore[operator]
        return real_clock(self, caller, clock_id, precision, out)

    monkeypatch.setattr(wasi.Wasi, "clock_time_get", clock_time_get)
    with Sandbox() as sandbox:
        process = sandbox.processes.start(
            ["python", "-c", "import sys, time\nsys.stdin.readline()\ntime.sleep(600)"],
            keep_stdin_open=True)
        until(lambda: process._instance is not None, "the process to run")
        armed[id(process._instance.wasi.state)] = process.interrupt
        process.write_stdin(b"go\n")
        assert process.wait(WAIT) == -2, process.log.text()
        assert b"KeyboardInterrupt" in process.log.text("stderr")
