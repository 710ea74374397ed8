"""``node`` through a real Sandboxed Python kernel (issue 15's must-pass ``!node -e
"console.log(1+1)"``): the shell line starts a JavaScript process of the sandbox's process table
(runtime/processes -> runtime/javascript), its output reaches the cell, files it writes are the
notebook's, and interrupting the cell stops a script that never ends."""

from __future__ import annotations

import time

import pytest
from jupyter_client.manager import start_new_kernel

TIMEOUT = 120


@pytest.fixture(scope="module")
def kernel():
    manager, client = start_new_kernel(kernel_name="sandboxed-python")
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _run(client, code: str) -> tuple[dict, str, str]:
    out: list[str] = []
    err: list[str] = []

    def collect(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            (out if msg["content"]["name"] == "stdout" else err).append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            err.append("\n".join(msg["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=TIMEOUT, output_hook=collect)
    return reply["content"], "".join(out), "".join(err)


def test_bang_node_e_prints_2(kernel):
    _manager, client = kernel
    content, out, err = _run(client, '!node -e "console.log(1+1)"')
    assert content["status"] == "ok", err
    assert out == "2\n"


def test_node_sees_the_notebook_files_and_python_sees_what_node_wrote(kernel):
    _manager, client = kernel
    content, out, err = _run(client, "\n".join([
        "open('nums.json', 'w').write('[1, 2, 3]')",
        "!node -e \"const fs=require('fs'); const a=JSON.parse(fs.readFileSync('nums.json',"
        "'utf8')); fs.writeFileSync('sum.txt', String(a.reduce((x,y)=>x+y)))\"",
        "print(open('sum.txt').read())",
    ]))
    assert content["status"] == "ok", err
    assert out == "6\n"


def test_subprocess_run_node_captures_output_and_status(kernel):
    _manager, client = kernel
    content, out, err = _run(client, "\n".join([
        "import subprocess",
        "r = subprocess.run(['node', '-e', 'console.log(process.argv.slice(1)); "
        "process.exit(3)', 'x'], capture_output=True, text=True)",
        "print(repr(r.stdout), r.returncode)",
    ]))
    assert content["status"] == "ok", err
    assert out == "\"[ 'x' ]\\n\" 3\n"


def test_interrupt_stops_an_endless_script_and_the_kernel_goes_on(kernel):
    manager, client = kernel
    msg_id = client.execute('!node -e "console.log(\'started\'); while (true) {}"')
    # wait until the script runs (its first line reached the cell), then interrupt
    deadline = time.monotonic() + TIMEOUT
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream"
                and "started" in msg["content"]["text"]):
            break
        assert time.monotonic() < deadline, "the script never started"
    manager.interrupt_kernel()
    reply = client.get_shell_msg(timeout=TIMEOUT)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=TIMEOUT)
    assert reply["content"]["status"] in ("ok", "error")
    content, out, err = _run(client, '!node -p "6*7"')
    assert content["status"] == "ok", err
    assert out == "42\n"


def test_a_javascript_memory_bomb_fails_alone_and_the_notebook_keeps_its_state(kernel):
    _manager, client = kernel
    content, _out, err = _run(client, "kept = 41")
    assert content["status"] == "ok", err
    content, out, err = _run(client, "\n".join([
        "import subprocess",
        "r = subprocess.run(['node', '-e', 'let a = []; while (1) a.push(new Array(1e6))'],"
        " capture_output=True, text=True)",
        "print(r.returncode, 'out of memory' in r.stderr, 'memory limit' in r.stderr)",
    ]))
    assert content["status"] == "ok", err
    assert out == "1 True True\n"
    content, out, err = _run(client, "print(kept + 1)")
    assert (content["status"], out) == ("ok", "42\n"), err
