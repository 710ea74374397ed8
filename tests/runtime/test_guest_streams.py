"""stdout/stderr in the guest: line-oriented batches, order kept, file descriptors."""

from __future__ import annotations

from tests.conftest import stream_text


def streams(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["content"]["name"], m["content"]["text"]) for m in messages
            if m["msg_type"] == "stream"]


#: Guest code that busy-waits past the streams' flush interval (no sleep: it would flush).
WAIT = ("import time\nfrom jupyter_sandbox_guest.streams import FLUSH_INTERVAL\n"
        "def wait():\n    end = time.monotonic() + FLUSH_INTERVAL * 1.5\n"
        "    while time.monotonic() < end:\n        pass\n")


def test_print_is_one_message(run):
    _, messages = run(WAIT + "wait()\nprint('hi')")
    assert streams(messages) == [("stdout", "hi\n")]


def test_print_goes_out_before_slow_work_and_is_whole(run):
    _, messages = run(WAIT + "wait()\nprint('start')\nwait()\nprint('end')")
    assert streams(messages) == [("stdout", "start\n"), ("stdout", "end\n")]


def test_fast_prints_are_batched(run):
    reply, messages = run("for i in range(2000):\n    print(i)")
    assert reply.status == "ok"
    assert stream_text(messages) == "".join(f"{i}\n" for i in range(2000))
    assert len(streams(messages)) < 50
    assert all(text.endswith("\n") for _, text in streams(messages))


def test_progress_without_newlines_still_shows(run):
    _, messages = run(WAIT + "for i in range(3):\n    print(f'\\r{i}', end='')\n    wait()\n"
                      "print()")
    texts = [text for _, text in streams(messages)]
    assert "".join(texts) == "\r0\r1\r2\n"
    assert texts[:3] == ["\r0", "\r1", "\r2"]


def test_sleep_flushes_a_partial_line(run):
    # Only the sleep can cut between 'a' and 'b': no newline, no time passed in between.
    _, messages = run("import time\nprint('a', end='')\ntime.sleep(0)\nprint('b')")
    assert streams(messages) == [("stdout", "a"), ("stdout", "b\n")]


def test_stdout_and_stderr_keep_their_order(run):
    _, messages = run("import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')\n"
                      "sys.stderr.write('four\\n')")
    joined: list[tuple[str, str]] = []
    for name, text in streams(messages):
        if joined and joined[-1][0] == name:
            joined[-1] = (name, joined[-1][1] + text)
        else:
            joined.append((name, text))
    assert joined == [("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "three\n"),
                      ("stderr", "four\n")]


def test_file_descriptors_and_binary_buffer(run):
    reply, messages = run("import os, sys\nassert sys.stdout.fileno() == 1\n"
                          "assert sys.stderr.fileno() == 2\n"
                          "sys.stdout.flush()\nos.write(sys.stdout.fileno(), b'raw\\n')\n"
                          "sys.stdout.buffer.write('bytes \\u00e9'.encode()[:-1])\n"
                          "sys.stdout.buffer.write('bytes \\u00e9\\n'.encode()[-2:])\n"
                          "print(sys.stdout.isatty(), sys.stdout.encoding)")
    assert reply.status == "ok", reply.evalue
    assert stream_text(messages) == "raw\nbytes é\nFalse utf-8\n"


def test_faulthandler_can_use_stderr(run):
    reply, _ = run("import faulthandler\nfaulthandler.enable()\nfaulthandler.disable()")
    assert reply.status == "ok", reply.evalue


def test_partial_line_arrives_while_a_long_computation_runs(sandbox):
    """The guest has no timer: the host ticks it while a cell runs, so buffered text goes out
    during a long computation, not only when the cell ends. The cell computes (no write, no
    sleep: nothing of its own flushes) until the host has received its partial line, or for a
    minute, then says which it was."""
    seen = sandbox.state_dir / "workspace" / "partial-line-seen"
    texts: list[str] = []

    def on_message(message: dict) -> None:
        if message["msg_type"] == "stream":
            texts.append(message["content"]["text"])
            seen.touch()

    reply = sandbox.execute(
        "import os, time\nprint('working...', end='')\ndeadline = time.monotonic() + 60\n"
        "while not os.path.exists('/workspace/partial-line-seen'):\n"
        "    if time.monotonic() > deadline:\n        print(' never sent while computing')\n"
        "        break\nelse:\n    print(' done')", on_message)
    assert reply.status == "ok", reply.evalue
    assert texts == ["working...", " done\n"]
