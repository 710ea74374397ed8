"""Issue 12, item 8: every message from the guest is bounded, validated and counted.

Notebook code can call the host bridge itself (``jupyter_sandbox_guest.bridge`` or the raw
``_host.call``), so it can send any message type, any content, any size. Through a real
kernel (jupyter_client) and real nbclient / ``jupyter-sandbox run``:

* 192 MiB of tracebacks, comm traffic, ``clear_output``, display updates… through the
  default 8 MiB per-cell cap: the client receives at most the cap, plus one notice;
* ``input()`` prompts count against the cap too;
* content that is not an object (or lacks its type's fields) is dropped with one notice and
  nbclient finishes the notebook;
* a 300 MiB message from a 1 GiB sandbox does not grow the kernel process (peak RSS, beyond
  the guest's own memory) by more than a fraction of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel
from nbclient import NotebookClient

MiB = 1 << 20
CAP = 8 * MiB  # the kernel's default output_limit_mib
TIMEOUT = 240
#: What the client may receive from one capped cell: the cap, plus the host's notices.
RECEIVED_BOUND = CAP + 64 * 1024


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    folder = tmp_path_factory.mktemp("notebook")
    env = {**os.environ, "JUPYTER_DATA_DIR": str(folder / ".data")}
    km, kc = start_new_kernel(kernel_name="sandboxed-python", cwd=str(folder), env=env,
                              extra_arguments=["--SandboxKernel.memory_limit_mib=1024"],
                              startup_timeout=TIMEOUT)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def received_bytes(message: dict) -> int:
    return len(json.dumps(message["content"])) + sum(len(b) for b in message.get("buffers") or [])


def run(kc: BlockingKernelClient, code: str, **kwargs) -> tuple[dict, list[dict]]:
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, timeout=TIMEOUT, output_hook=outputs.append, **kwargs)
    return reply, outputs


def stderr_text(outputs: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in outputs
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")


FLOODS = {
    # msg_type: content of one ~8 MiB message; 24 of them are sent (192 MiB)
    "error": '{"ename": "E", "evalue": "", "traceback": [chunk]}',
    "comm_open": '{"comm_id": "c1", "target_name": "t", "data": {"blob": chunk}}',
    "comm_msg": '{"comm_id": "c1", "data": {"blob": chunk}}',
    "comm_close": '{"comm_id": "c1", "data": {"blob": chunk}}',
    "clear_output": '{"wait": False, "padding": chunk}',
    "update_display_data": '{"data": {"text/plain": chunk}, "metadata": {}, '
                           '"transient": {"display_id": "d1"}}',
    "display_data": '{"data": {"text/plain": chunk}, "metadata": {}}',
    "execute_result": '{"data": {"text/plain": chunk}, "metadata": {}, "execution_count": 1}',
    "stream": '{"name": "stdout", "text": chunk}',
}


@pytest.mark.parametrize("msg_type", sorted(FLOODS))
def test_192_mib_of_any_message_type_stops_at_the_cap(kernel, msg_type):
    _km, kc = kernel
    code = (f"from jupyter_sandbox_guest import bridge\n"
            f"chunk = 'x' * ({CAP} - 64 * 1024)\n"
            f"for _ in range(24):\n"
            f"    bridge.send({msg_type!r}, {FLOODS[msg_type]})\n")
    reply, outputs = run(kc, code)
    assert reply["content"]["status"] == "ok"
    assert sum(received_bytes(m) for m in outputs) <= RECEIVED_BOUND
    assert "passed the limit of 8 MiB" in stderr_text(outputs)
    from_guest = [m for m in outputs if m["msg_type"] == msg_type
                  and "[jupyter-sandbox]" not in m["content"].get("text", "")]
    assert len(from_guest) <= 1


def test_a_flood_of_small_clear_output_messages_is_capped(kernel):
    _km, kc = kernel
    # Each request is padded with JSON whitespace to 64 KiB: it is counted by the bytes the
    # guest sent, so ~128 of them reach the cap. (Small ones would need ~120k messages, which
    # overflows IOPub's high-water mark and drops messages before the client sees them.)
    code = ("import _host\n"
            "raw = (b'{\"op\":\"message\",\"msg_type\":\"clear_output\",'\n"
            "       b'\"content\":{\"wait\":false}}')\n"
            "raw = raw[:-1] + b' ' * (64 * 1024 - len(raw)) + b'}'\n"
            f"for _ in range(2 * {CAP} // len(raw)):\n"
            "    _host.call(raw)\n")
    reply, outputs = run(kc, code)
    assert reply["content"]["status"] == "ok"
    clears = [m for m in outputs if m["msg_type"] == "clear_output"]
    assert 0 < len(clears) <= CAP // (64 * 1024)  # counted by their raw size, then capped
    assert "passed the limit of 8 MiB" in stderr_text(outputs)


def test_input_prompts_count_against_the_cap(kernel):
    _km, kc = kernel
    prompts: list[str] = []

    def answer(message: dict) -> None:
        prompts.append(message["content"]["prompt"])
        kc.input("fine")

    code = (f"prompt = 'p' * ({CAP} - 64 * 1024)\n"
            "answers = [input(prompt) for _ in range(24)]\n"
            "print(len(answers), set(answers))")
    reply, outputs = run(kc, code, allow_stdin=True, stdin_hook=answer)
    assert reply["content"]["status"] == "ok"
    assert len(prompts) == 24  # every input() still gets its answer
    assert sum(len(p) for p in prompts) <= CAP
    assert "passed the limit of 8 MiB" in stderr_text(outputs)


def test_the_reply_of_a_cell_counts_too(kernel):
    """The execute_reply carries the traceback again: past the cap it keeps only its status,
    ename and the start of evalue; a reply too large to read says so."""
    _km, kc = kernel
    reply, outputs = run(kc, f"raise ValueError('v' * {3 * MiB})")  # fits once, not twice
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "ValueError"
    assert len(json.dumps(reply["content"])) < 64 * 1024
    assert sum(received_bytes(m) for m in outputs) <= RECEIVED_BOUND
    reply, outputs = run(kc, f"raise ValueError('v' * {3 * CAP})")  # larger than one read
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "OutputLimitError"
    assert "larger than the host accepts" in reply["content"]["evalue"]
    assert sum(received_bytes(m) for m in outputs) <= RECEIVED_BOUND
    assert "passed the limit of 8 MiB" in stderr_text(outputs)


BAD_MESSAGES = """
from jupyter_sandbox_guest import bridge
bridge.call("message", msg_type="display_data", content="not an object", metadata={})
bridge.call("message", msg_type="stream", content=[1, 2, 3], metadata={})
bridge.call("message", msg_type="execute_result", content={"data": "x"}, metadata=[])
bridge.call("message", msg_type="error", content={"ename": 1, "evalue": "", "traceback": []})
bridge.call("message", msg_type="stream", content={"name": "stdout", "text": 5})
bridge.call("message", msg_type="comm_msg", content={"comm_id": "c", "data": [],
            "buffers": ["!!"]})
bridge.call("message", msg_type="status", content={"execution_state": "idle"})
bridge.call("message", msg_type="display_data", content={"data": {"text/plain": "fine"}},
            metadata=None)
print("after the bad messages")
"""


def test_malformed_messages_are_dropped_with_one_notice_and_nbclient_finishes(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(BAD_MESSAGES),
                      nbformat.v4.new_code_cell("print('next cell')")]
    notebook.metadata["kernelspec"] = {"name": "sandboxed-python", "language": "python",
                                       "display_name": "Sandboxed Python"}
    NotebookClient(notebook, kernel_name="sandboxed-python", timeout=TIMEOUT,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    first, second = notebook.cells[0].outputs, notebook.cells[1].outputs
    notices = [o for o in first if o.output_type == "stream" and o.name == "stderr"]
    assert len(notices) == 1 and "malformed" in notices[0].text
    assert [o.data["text/plain"] for o in first if o.output_type == "display_data"] == ["fine"]
    assert [o.text for o in first if o.output_type == "stream" and o.name == "stdout"] == \
        ["after the bad messages\n"]
    assert [o.text for o in second] == ["next cell\n"]


def test_jupyter_sandbox_run_finishes_a_notebook_with_malformed_messages(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(BAD_MESSAGES),
                      nbformat.v4.new_code_cell("print('next cell')")]
    nbformat.write(notebook, tmp_path / "bad.ipynb")
    done = subprocess.run([sys.executable, "-m", "jupyter_sandbox.cli", "run",
                           str(tmp_path / "bad.ipynb"), "-o", str(tmp_path / "out.ipynb")],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert "JSONDecodeError" not in done.stderr
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[1].outputs[0].text == "next cell\n"


def _peak_rss_mib(pid: int) -> int:
    """The process's peak resident size (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def _guest_memory_mib(kc: BlockingKernelClient) -> int:
    reply, outputs = run(kc, "from jupyter_sandbox_guest import bridge\n"
                             "print(bridge.call('status')['usage']['memory_bytes'] >> 20)")
    assert reply["content"]["status"] == "ok", outputs
    return int("".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))


HUGE_RAW = """
import _host
head = b'{"op":"message","msg_type":"stream","content":{"name":"stdout","text":"'
big = bytearray(head) + bytearray(b"x") * (300 << 20) + bytearray(b'"},"metadata":{}}')
_host.call(big)
del big
"""


@pytest.mark.parametrize("code", [HUGE_RAW, "print('x' * (150 << 20))"],
                         ids=["raw-300-MiB-message", "print-150-MiB"])
def test_a_huge_message_does_not_grow_the_host(kernel, code):
    km, kc = kernel
    process = psutil.Process(km.provisioner.process.pid)
    # Let the guest's memory grow (and be touched) first, so what follows is the host's own.
    reply, _ = run(kc, "b = b'x' * (650 << 20); del b")
    assert reply["content"]["status"] == "ok"
    guest_before, peak_before = _guest_memory_mib(kc), _peak_rss_mib(process.pid)
    rss_before = process.memory_info().rss >> 20
    reply, outputs = run(kc, code)
    content = reply["content"]
    if content["status"] == "ok":  # what happens: the message reached the host, which capped it
        assert stderr_text(outputs).count("passed the limit of 8 MiB") == 1, outputs
    else:  # only the guest running out of its own 1 GiB may stop the cell, nothing else
        assert (content["status"], content["ename"]) == ("error", "MemoryError"), content
    guest_growth = _guest_memory_mib(kc) - guest_before
    host_peak_growth = _peak_rss_mib(process.pid) - peak_before - guest_growth
    host_rss_growth = (process.memory_info().rss >> 20) - rss_before - guest_growth
    assert host_peak_growth < 200, (host_peak_growth, guest_growth)
    assert host_rss_growth < 200, (host_rss_growth, guest_growth)
    assert sum(received_bytes(m) for m in outputs) <= RECEIVED_BOUND
    after = run(kc, "print('still here')")[1]
    streams = [m["content"].get("text") for m in after if m["msg_type"] == "stream"]
    assert streams == ["still here\n"]
