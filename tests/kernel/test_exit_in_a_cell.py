"""``exit()`` in a cell ends the kernel as on the stock kernel: the reply carries ipykernel's
``ask_exit`` payload and the kernel process ends (front ends then restart it)."""

from __future__ import annotations

import pytest
from jupyter_client.manager import start_new_kernel

TIMEOUT = 60


@pytest.mark.parametrize("kernel_name", ["python3", "sandboxed-python"])
def test_exit_sends_ask_exit_and_ends_the_kernel(kernel_name):
    manager, client = start_new_kernel(kernel_name=kernel_name)
    try:
        reply = client.execute_interactive("exit()", timeout=TIMEOUT)
        assert reply["content"]["status"] == "ok"
        assert reply["content"]["payload"] == [{"source": "ask_exit", "keepkernel": False}]
        assert manager.provisioner is not None
        # the process ends by itself (wait() returns its exit code; a hang fails the test)
        process = manager.provisioner.process
        assert process is not None
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
