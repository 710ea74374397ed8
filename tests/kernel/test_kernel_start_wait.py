"""The kernel's handlers wait for the sandbox's background start without blocking ipykernel's
event loop (``SandboxKernel.ready_sandbox``), and see the start's failure when it failed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from types import SimpleNamespace

import pytest

from jupyter_sandbox.kernel.kernel import SandboxKernel


def _finish_from_another_thread(finish) -> None:
    thread = threading.Thread(target=finish, name="sandbox-start", daemon=True)
    thread.start()


def test_handlers_await_the_start_while_the_loop_keeps_running():
    ready: concurrent.futures.Future[str] = concurrent.futures.Future()
    kernel = SimpleNamespace(_sandbox_ready=ready)

    async def main() -> str:
        waiting = asyncio.ensure_future(SandboxKernel.ready_sandbox(kernel))
        for _ in range(50):  # other work on the loop goes on while the sandbox starts
            await asyncio.sleep(0)
        assert not waiting.done()
        _finish_from_another_thread(lambda: ready.set_result("the sandbox"))
        return await waiting

    assert asyncio.run(main()) == "the sandbox"


def test_a_failed_start_reaches_every_handler():
    ready: concurrent.futures.Future[str] = concurrent.futures.Future()
    kernel = SimpleNamespace(_sandbox_ready=ready)
    _finish_from_another_thread(lambda: ready.set_exception(RuntimeError("no guest")))

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(RuntimeError, match="no guest"):
                await SandboxKernel.ready_sandbox(kernel)

    asyncio.run(main())
