"""The sandbox's structure holds in code: the store is touched only on the guest thread, status
never waits for a cell, the worker can be awaited, and the runtime's errors and imports are as
DESIGN.md says."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest

from jupyter_sandbox.runtime import errors, pip_errors, snapshot_errors, wasm_rewrite
from jupyter_sandbox.runtime.errors import SandboxError, WrongThreadError
from tests.conftest import stream_text
from tests.waiting import wait_for

MiB = 1 << 20


def test_the_store_refuses_other_threads(sandbox):
    instance = sandbox._instance
    for touch in (instance.memory_bytes, instance.memory_view, instance.close,
                  lambda: instance.turn("1")):
        with pytest.raises(WrongThreadError, match="guest thread"):
            touch()
    assert isinstance(WrongThreadError("x", "a", "b"), SandboxError)
    assert sandbox.execute("1+1").status == "ok"  # nothing was touched


def test_status_during_a_cell_neither_waits_nor_touches_the_store(sandbox):
    """While a cell runs, status() answers at once with the memory size the guest thread last
    observed (it grows as the cell allocates); usage() reads it on the worker after the cell."""
    messages: list[dict] = []
    before = sandbox.status()["usage"]["memory_bytes"]
    done: dict[str, object] = {}

    def run() -> None:
        done["reply"] = sandbox.execute(
            "block = bytearray(96 << 20)\nprint('go', flush=True)\nwhile True:\n    pass",
            messages.append)

    cell = threading.Thread(target=run, daemon=True)
    cell.start()
    wait_for(lambda: "go" in stream_text(list(messages)), "the cell to start")
    wait_for(lambda: sandbox.status()["usage"]["memory_bytes"] >= before + 64 * MiB,
             "status to show the cell's memory")
    assert cell.is_alive()  # status answered while the cell still ran
    sandbox.interrupt()
    cell.join(60)
    assert not cell.is_alive()
    assert done["reply"].ename == "KeyboardInterrupt"
    assert sandbox.usage().memory_bytes >= before + 64 * MiB


def test_run_async_awaits_the_worker_without_blocking_the_loop(sandbox):
    async def main() -> tuple[object, int]:
        ticks = 0
        messages: list[dict] = []

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.create_task(tick())
        cell = asyncio.ensure_future(sandbox.run_async(lambda: sandbox.execute(
            "print('go', flush=True)\nwhile True:\n    pass", messages.append)))
        while "go" not in stream_text(list(messages)):
            await asyncio.sleep(0.005)
        seen = ticks
        while ticks < seen + 20:  # the loop keeps running while the cell does
            await asyncio.sleep(0.005)
        assert not cell.done()
        sandbox.interrupt()
        reply = await cell
        ticker.cancel()
        value = await sandbox.run_async(lambda: sandbox.execute("40 + 2").status)
        return reply, value

    reply, value = asyncio.run(main())
    assert reply.ename == "KeyboardInterrupt"
    assert value == "ok"


def test_run_async_after_close_raises(sandbox):
    sandbox.close()
    with pytest.raises(errors.SandboxClosedError):
        asyncio.run(sandbox.run_async(lambda: 1))


def test_errors_live_in_one_module():
    assert issubclass(wasm_rewrite.WasmRewriteError, SandboxError)
    assert issubclass(wasm_rewrite.WasmRewriteError, ValueError)
    assert pip_errors.PackageError is errors.PackageError
    assert snapshot_errors.SnapshotError is errors.SnapshotError
    assert snapshot_errors.SnapshotKeyError is errors.SnapshotKeyError
    assert not hasattr(errors, "SandboxBusyError")
    # Every error the runtime raises to its callers (a SandboxError) is defined in errors.py;
    # internal signals (WasiError carrying an errno to the guest, ProcExit) may live beside
    # the code that raises and catches them.
    import importlib
    import pkgutil

    import jupyter_sandbox.runtime as runtime_package

    elsewhere = []
    for info in pkgutil.walk_packages(runtime_package.__path__, "jupyter_sandbox.runtime."):
        if ".guest" in info.name:
            continue
        module = importlib.import_module(info.name)
        elsewhere += [f"{info.name}.{name}" for name, value in vars(module).items()
                      if isinstance(value, type) and issubclass(value, SandboxError)
                      and value.__module__ == info.name and info.name != errors.__name__]
    assert elsewhere == []


def test_the_sandbox_does_not_import_the_previews_module():
    """runtime/sandbox and runtime/previews import each other no more: the facade loads
    without the previews module."""
    code = ("import sys, jupyter_sandbox.runtime.sandbox as s; "
            "print('jupyter_sandbox.runtime.previews' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"
