"""Protocol behaviour of the sandboxed-python kernel beyond the conformance suite, through a
real kernel process and jupyter_client."""

from __future__ import annotations

import queue
import subprocess
import sys
from collections.abc import Iterator

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

TIMEOUT = 60


@pytest.fixture(scope="module")
def kernel() -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    km, kc = start_new_kernel(kernel_name="sandboxed-python")
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _collect(kc: BlockingKernelClient, msg_id: str) -> list[dict]:
    """IOPub messages of one request, up to its idle status."""
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages


def _shell_reply(kc: BlockingKernelClient, msg_id: str) -> dict:
    """The reply to ``msg_id``, returned once the kernel is idle again (after an error the
    kernel schedules the end of its abort window before going idle)."""
    while True:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            return reply


def _pending_shell_replies(kc: BlockingKernelClient) -> list[str]:
    """The parent ids of the shell replies that have arrived and not been read (read now)."""
    ids = []
    while True:
        try:
            ids.append(kc.get_shell_msg(timeout=0)["parent_header"].get("msg_id"))
        except queue.Empty:
            return ids


def test_kernelspec_is_listed_with_sandbox_metadata():
    out = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
                         capture_output=True, text=True, check=True).stdout
    import json

    spec = json.loads(out)["kernelspecs"]["sandboxed-python"]["spec"]
    assert spec["display_name"] == "Sandboxed Python"
    assert spec["interrupt_mode"] == "message"
    assert spec["metadata"]["sandboxed"] is True


def test_kernel_info_banner_names_sandbox_and_limits(kernel):
    _, kc = kernel
    info = kc.kernel_info(reply=True, timeout=TIMEOUT)["content"]
    assert "sandbox" in info["banner"].lower()
    assert "MiB memory" in info["banner"]
    assert info["language_info"]["version"].startswith("3.15")
    assert info["implementation"] == "jupyter-sandbox"


def test_status_busy_then_idle_with_parent_header(kernel):
    _, kc = kernel
    msg_id = kc.execute("print('hi')")
    messages = _collect(kc, msg_id)
    kinds = [m["msg_type"] for m in messages]
    assert kinds[0] == "status" and messages[0]["content"]["execution_state"] == "busy"
    assert "execute_input" in kinds
    assert [m["content"]["text"] for m in messages if m["msg_type"] == "stream"] == ["hi\n"]
    assert all(m["parent_header"]["msg_id"] == msg_id for m in messages)


def test_interrupt_request_stops_cell_and_keeps_state(kernel):
    km, kc = kernel
    kc.execute_interactive("kept = 'value'", timeout=TIMEOUT)
    msg_id = kc.execute("print('running', flush=True)\nwhile True:\n    pass")
    while True:  # wait until the loop is really running
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    km.interrupt_kernel()  # how fast it lands is bench/bench_kernel.py's matter
    reply = _shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    kept = kc.execute_interactive("kept", user_expressions={"kept": "kept"}, timeout=TIMEOUT)
    assert kept["content"]["status"] == "ok"
    assert kept["content"]["user_expressions"]["kept"]["data"]["text/plain"] == "'value'"


def test_control_channel_answers_while_cell_runs(kernel):
    """The cell sleeps until interrupted, so a control reply that arrives at all arrived while
    it ran (no wall-clock bound: the machine may be loaded)."""
    km, kc = kernel
    msg_id = kc.execute("import time\nprint('sleeping', flush=True)\nwhile True:\n"
                        "    time.sleep(0.05)")
    while True:  # the cell is running once it has printed
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    kc.control_channel.send(kc.session.msg("kernel_info_request"))
    reply = kc.control_channel.get_msg(timeout=TIMEOUT)
    assert reply["msg_type"] == "kernel_info_reply"
    assert reply["content"]["implementation"] == "jupyter-sandbox"
    assert msg_id not in _pending_shell_replies(kc)  # the cell has not ended on its own
    km.interrupt_kernel()
    assert _shell_reply(kc, msg_id)["content"]["ename"] == "KeyboardInterrupt"


def test_interrupt_as_a_cell_starts_still_gets_a_reply(kernel):
    km, kc = kernel
    for _ in range(5):
        msg_id = kc.execute("import time\ntime.sleep(2)")
        km.interrupt_kernel()  # may land before, during or after the cell starts
        content = _shell_reply(kc, msg_id)["content"]
        assert content["status"] == "ok" or content["ename"] == "KeyboardInterrupt", content
    assert kc.execute_interactive("1 + 1", timeout=TIMEOUT)["content"]["status"] == "ok"


def test_stop_on_error_aborts_queued_cells(kernel):
    _, kc = kernel
    first = kc.execute("raise RuntimeError('first fails')")
    second = kc.execute("print('must not run')")
    assert _shell_reply(kc, first)["content"]["status"] == "error"
    aborted = kc.get_shell_msg(timeout=TIMEOUT)
    assert aborted["parent_header"]["msg_id"] == second
    assert aborted["content"]["status"] == "aborted"
    # The aborted cell never ran: IOPub is ordered, so by the idle of a later cell every message
    # of the aborted one has arrived, and none is its input, output or result.
    third = kc.execute("print('runs after the abort')")
    seen: list[dict] = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        seen.append(msg)
        if (msg["parent_header"].get("msg_id") == third and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            break
    of_second = [m["msg_type"] for m in seen if m["parent_header"].get("msg_id") == second]
    assert set(of_second) <= {"status"}, of_second
    assert not any("must not run" in str(m["content"]) for m in seen)
    third_out = "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream"
                        and m["parent_header"].get("msg_id") == third)
    assert third_out == "runs after the abort\n"
    assert kc.get_shell_msg(timeout=TIMEOUT)["content"]["status"] == "ok"


def test_input_request_round_trip(kernel):
    _, kc = kernel
    msg_id = kc.execute("name = input('Who? ')\nprint('hello', name)", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=TIMEOUT)
    assert request["content"]["prompt"] == "Who? "
    assert request["content"]["password"] is False
    kc.input("sandbox")
    messages = _collect(kc, msg_id)
    stdout = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    assert stdout == "hello sandbox\n"


def test_getpass_is_a_password_request(kernel):
    _, kc = kernel
    msg_id = kc.execute("import getpass\nsecret = getpass.getpass('Key: ')\nlen(secret)",
                        allow_stdin=True)
    request = kc.get_stdin_msg(timeout=TIMEOUT)
    assert request["content"] == {"prompt": "Key: ", "password": True}
    kc.input("abc")
    reply = _shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "ok"
    check = kc.execute_interactive("", user_expressions={"s": "secret"}, timeout=TIMEOUT)
    assert check["content"]["user_expressions"]["s"]["data"]["text/plain"] == "'abc'"


def test_input_without_stdin_is_a_clear_error(kernel):
    _, kc = kernel
    msg_id = kc.execute("input('x')", allow_stdin=False)
    reply = _shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StdinNotImplementedError"


def test_interrupt_while_waiting_for_input(kernel):
    km, kc = kernel
    msg_id = kc.execute("input('wait: ')", allow_stdin=True)
    kc.get_stdin_msg(timeout=TIMEOUT)
    km.interrupt_kernel()
    reply = _shell_reply(kc, msg_id)
    assert reply["content"]["ename"] == "KeyboardInterrupt"


def test_completion_positions_are_utf16(kernel):
    _, kc = kernel
    kc.execute_interactive("emoji_value = 1", timeout=TIMEOUT)
    code = "s = '😀'; emoji_v"
    utf16_length = len(code.encode("utf-16-le")) // 2
    reply = kc.complete(code, utf16_length, reply=True, timeout=TIMEOUT)["content"]
    assert "emoji_value" in reply["matches"]
    assert reply["cursor_end"] == utf16_length
    assert reply["cursor_start"] == utf16_length - len("emoji_v")


def test_restart_gives_a_fresh_sandbox():
    km, kc = start_new_kernel(kernel_name="sandboxed-python")
    try:
        kc.execute_interactive("marker = 1", timeout=TIMEOUT)
        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=TIMEOUT)
        reply = kc.execute_interactive("marker", timeout=TIMEOUT)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "NameError"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_user_expressions(kernel):
    _, kc = kernel
    reply = kc.execute_interactive("a = 6", user_expressions={"double": "a * 2"}, timeout=TIMEOUT)
    result = reply["content"]["user_expressions"]["double"]
    assert result["status"] == "ok"
    assert result["data"]["text/plain"] == "12"


def test_silent_execution_has_no_output_and_no_count(kernel):
    _, kc = kernel
    before = kc.execute_interactive("1", timeout=TIMEOUT)["content"]["execution_count"]
    outputs: queue.SimpleQueue = queue.SimpleQueue()
    quiet = kc.execute_interactive("print('quiet'); ran_silently = True", silent=True,
                                   output_hook=outputs.put, timeout=TIMEOUT)
    assert quiet["content"]["status"] == "ok"
    assert not any(m["msg_type"] in ("stream", "execute_input", "execute_result")
                   for m in iter_queue(outputs))
    after = kc.execute_interactive("1", user_expressions={"ran": "ran_silently"},
                                   timeout=TIMEOUT)["content"]
    assert after["execution_count"] == before + 1
    assert after["user_expressions"]["ran"]["data"]["text/plain"] == "True"  # it did run


def iter_queue(q: queue.SimpleQueue) -> list:
    items = []
    while not q.empty():
        items.append(q.get())
    return items


def test_limits_come_from_jupyter_config_files(tmp_path, monkeypatch):
    (tmp_path / "jupyter_sandbox_kernel_config.py").write_text(
        "c.SandboxKernel.memory_limit_mib = 300\nc.SandboxKernel.host_folder_mode = 'off'\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    km, kc = start_new_kernel(kernel_name="sandboxed-python")
    try:
        outputs: list[dict] = []
        kc.execute_interactive("%sandbox", output_hook=outputs.append, timeout=TIMEOUT)
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        assert "of 300.0 MiB" in text
        assert "host folder off" in text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_kernel_starts_from_a_snapshot_named_in_the_environment(tmp_path, monkeypatch):
    from jupyter_sandbox.kernel.snapshot_key import snapshot_key_path
    from jupyter_sandbox.runtime.config import SandboxConfig
    from jupyter_sandbox.runtime.sandbox import Sandbox

    # signed with the key kernels use (Jupyter's data dir): a snapshot of this installation
    with Sandbox(SandboxConfig(snapshot_key_file=snapshot_key_path())) as sandbox:
        sandbox.execute("carried = 'from the snapshot'")
        (tmp_path / "start.snap").write_bytes(sandbox.snapshot())
    monkeypatch.setenv("JUPYTER_SANDBOX_SNAPSHOT", str(tmp_path / "start.snap"))
    km, kc = start_new_kernel(kernel_name="sandboxed-python")
    try:
        outputs: list[dict] = []
        kc.execute_interactive("carried", output_hook=outputs.append, timeout=TIMEOUT)
        results = [m for m in outputs if m["msg_type"] == "execute_result"]
        assert results[0]["content"]["data"]["text/plain"] == "'from the snapshot'"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_named_snapshots_outlive_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "analysis.ipynb"))
    km, kc = start_new_kernel(kernel_name="sandboxed-python")
    try:
        kc.execute_interactive("answer = 42\n%snapshot save checkpoint-1", timeout=TIMEOUT)
        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=TIMEOUT)
        outputs: list[dict] = []
        kc.execute_interactive("%snapshot restore checkpoint-1", timeout=TIMEOUT)
        kc.execute_interactive("answer", output_hook=outputs.append, timeout=TIMEOUT)
        results = [m for m in outputs if m["msg_type"] == "execute_result"]
        assert results[0]["content"]["data"]["text/plain"] == "42"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert list(tmp_path.glob("sandbox/snapshots/*/checkpoint-1.snap"))


def test_config_file_in_the_notebook_folder_is_ignored(tmp_path, monkeypatch):
    """The notebook's folder is not trusted: a config file there must not run in the kernel."""
    marker = tmp_path / "config-ran"
    (tmp_path / "jupyter_sandbox_kernel_config.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nc.SandboxKernel.memory_limit_mib = 300\n")
    monkeypatch.chdir(tmp_path)
    km, kc = start_new_kernel(kernel_name="sandboxed-python", cwd=str(tmp_path))
    try:
        outputs: list[dict] = []
        kc.execute_interactive("%sandbox", output_hook=outputs.append, timeout=TIMEOUT)
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        assert "of 2,048.0 MiB" in text
        assert not marker.exists()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
