"""Comm messages from the front end never cost a later request its parent header.

ipykernel dispatches a comm message at once when another request holds the shell lock, and
when the comm handler ends it restores the shell parent it saw on arrival. JupyterLab sends
widget comms (``jupyter.widget.control``) while a notebook opens, as the kernel's sandbox may
still be starting; if delivering the comm outlives the request that was running, the next
cell's closing ``idle`` status carries the old request's parent and the front end shows that
cell as running for ever. A guest comm target that takes a while makes the case certain.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

TIMEOUT = 60


@pytest.fixture
def kernel() -> Iterator[BlockingKernelClient]:
    km: KernelManager
    km, kc = start_new_kernel(kernel_name="sandboxed-python")
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _iopub_until_idle(kc: BlockingKernelClient,
                      wanted: set[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """For each request in ``wanted``: the execution states published with its parent, and
    its execute_result's text; read until every one of them has gone idle (or the deadline
    passes)."""
    states: dict[str, list[str]] = {msg_id: [] for msg_id in wanted}
    results: dict[str, str] = {}
    idle: set[str] = set()
    while idle != wanted:
        message = kc.get_iopub_msg(timeout=TIMEOUT)
        parent = message["parent_header"].get("msg_id")
        if parent not in states:
            continue
        if message["msg_type"] == "execute_result":
            results[parent] = message["content"]["data"]["text/plain"]
        if message["msg_type"] == "status":
            states[parent].append(message["content"]["execution_state"])
            if message["content"]["execution_state"] == "idle":
                idle.add(parent)
    return states, results


def test_slow_comm_during_a_cell_leaves_the_next_cell_its_idle_status(kernel):
    kc = kernel
    setup = kc.execute_interactive(
        "import comm, time\nopened = []\n"
        "def slow_open(c, msg):\n"
        "    time.sleep(1.5)\n"
        "    opened.append(msg['content']['data'])\n"
        "comm.get_comm_manager().register_target('slow-target', slow_open)",
        timeout=TIMEOUT)
    assert setup["content"]["status"] == "ok"

    first = kc.execute("time.sleep(1)")
    comm_open = kc.session.msg("comm_open", {"comm_id": "slow-1", "target_name": "slow-target",
                                             "data": {"n": 1}})
    kc.shell_channel.send(comm_open)
    second = kc.execute("len(opened)")

    # (ipykernel publishes no status for a comm it dispatches while a cell runs)
    states, results = _iopub_until_idle(kc, {first, second})
    assert states[first] == ["busy", "idle"]
    assert states[second] == ["busy", "idle"]
    # The comm reached the guest before the cell sent after it ran, as on ipykernel.
    assert results[second] == "1"


def test_comm_sent_before_a_cell_is_delivered_before_it_runs(kernel):
    kc = kernel
    kc.execute_interactive(
        "import comm\nseen = []\n"
        "comm.get_comm_manager().register_target('order', lambda c, m: seen.append(1))",
        timeout=TIMEOUT)
    for n in range(3):
        kc.shell_channel.send(kc.session.msg(
            "comm_open", {"comm_id": f"order-{n}", "target_name": "order", "data": {}}))
    outputs: list[str] = []
    kc.execute_interactive("print(len(seen))", timeout=TIMEOUT,
                           output_hook=lambda m: outputs.append(m["content"].get("text", "")))
    assert "".join(outputs) == "3\n"
