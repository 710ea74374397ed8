"""The sandbox's memory limit split between the notebook and its processes
(runtime/processes/memory.py), in real sandboxes."""

from __future__ import annotations

import threading

import pytest

from jupyter_sandbox.runtime import base_image
from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.errors import ProcessMemoryError
from jupyter_sandbox.runtime.processes.memory import HEADROOM
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text

MiB = 1 << 20
WAIT = 120


def cell(sandbox: Sandbox, code: str) -> tuple[object, str]:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    return reply, stream_text(messages) + stream_text(messages, "stderr")


def test_a_live_store_takes_a_new_memory_limit_again_and_again_from_any_thread():
    """wasmtime's Store.set_limits may be called on a live store (lower, then higher), from
    the guest thread inside a cell or asked for from another thread between cells."""
    with Sandbox() as sandbox:
        instance = sandbox._instance
        assert instance is not None
        used = instance.observed_memory_bytes
        thread = threading.Thread(target=lambda: instance.set_memory_limit(used + 8 * MiB))
        thread.start()
        thread.join()  # not the guest thread: applied when the next turn starts
        reply, text = cell(sandbox, "try:\n    b = bytearray(64 << 20)\n"
                                    "except MemoryError:\n    print('MemoryError')")
        assert reply.status == "ok" and text == "MemoryError\n"
        instance.set_memory_limit(2 << 30)
        reply, text = cell(sandbox, "b = bytearray(64 << 20); print(len(b))")
        assert reply.status == "ok" and text == f"{64 << 20}\n"
        assert instance.memory_limit == 2 << 30


def test_a_child_that_exhausts_its_memory_fails_alone():
    with Sandbox() as sandbox:
        handle = sandbox.processes.start(["python", "-c", "x = []\nwhile True: "
                                                          "x.append(bytearray(8 << 20))"])
        assert handle.wait(WAIT) == 1
        err = b"".join(c.data for c in handle.read_output() if c.stream == "stderr")
        assert err.rstrip().endswith(b"MemoryError")
        reply, text = cell(sandbox, "b = bytearray(300 << 20); print('parent fine', len(b))")
        assert reply.status == "ok" and text == f"parent fine {300 << 20}\n"
        assert sandbox.status()["processes"] == []


def test_the_notebook_limit_is_lowered_while_a_child_holds_memory_and_raised_after():
    limits = Limits(memory_bytes=512 * MiB, process_memory_bytes=200 * MiB)
    with Sandbox(SandboxConfig(limits=limits)) as sandbox:
        sandbox.processes.keep_spare = False
        handle = sandbox.processes.start(["sleep", "600"])
        assert handle.wait(0.2) is None
        granted = sandbox.processes.budget.granted(handle.pid)
        assert granted == 200 * MiB
        reply, text = cell(sandbox, "try:\n    b = bytearray(280 << 20)\n"
                                    "except MemoryError:\n    print('MemoryError')")
        assert reply.status == "ok" and text == "MemoryError\n"
        instance = sandbox._instance
        assert instance is not None and instance.memory_limit == 512 * MiB - granted
        handle.kill()
        assert handle.wait(WAIT) == -9
        reply, text = cell(sandbox, "b = bytearray(280 << 20); print('ok')")
        assert reply.status == "ok" and text == "ok\n"
        assert instance.memory_limit == 512 * MiB


def test_a_child_that_cannot_fit_fails_to_start_naming_the_numbers():
    with Sandbox(SandboxConfig(limits=Limits(memory_bytes=160 * MiB))) as sandbox:
        sandbox.processes.keep_spare = False
        image = base_image.load(sandbox.snapshot_bounds)
        assert image is not None
        first = sandbox.processes.start(["sleep", "600"])
        with pytest.raises(ProcessMemoryError) as caught:
            sandbox.processes.start(["sleep", "600"])
        message = str(caught.value)
        assert isinstance(caught.value, MemoryError)
        assert f"needs at least {(image.memory_bytes + HEADROOM) // MiB} MiB" in message
        assert "of the sandbox's 160 MiB memory limit are free" in message
        # from notebook code it is a MemoryError, and the notebook goes on
        reply, text = cell(sandbox, "import subprocess\ntry:\n"
                                    "    subprocess.Popen(['sleep', '1'])\n"
                                    "except MemoryError as e:\n    print('MemoryError', e)")
        assert reply.status == "ok" and text.startswith("MemoryError a new process needs")
        first.kill()
        assert first.wait(WAIT) == -9
        second = sandbox.processes.start(["true"])
        assert second.wait(WAIT) == 0
