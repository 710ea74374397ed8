"""The conformance suite (jupyter_kernel_test) against a *pooled* Sandboxed Python kernel: one
that a ``PooledKernelManager`` pre-started and then handed over to a notebook, exactly as
jupyter_server's session manager asks for a notebook's kernel. Run in-process, on an asyncio
loop of this test's own; the suite's client talks to the kernel over its connection file."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from jupyter_client.blocking.client import BlockingKernelClient

from jupyter_sandbox.server_extension.pooled_kernels import PooledKernelManager
from tests.kernel.pooled_manager import POOL_TIMEOUT, hand_over
from tests.server.conftest import short_temp_dir

from .test_conformance import SandboxedPythonConformance


class PooledSandboxedPythonConformance(SandboxedPythonConformance):
    loop: asyncio.AbstractEventLoop
    manager: PooledKernelManager
    base: Path

    @classmethod
    def setUpClass(cls) -> None:
        cls.base = short_temp_dir()
        runtime, root = cls.base / "rt", cls.base / "root"
        (root / "project").mkdir(parents=True)
        runtime.mkdir()
        cls.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(cls.loop)
        cls.manager = PooledKernelManager(connection_dir=str(runtime), root_dir=str(root),
                                          prespawn=1, refill_delay=3600.0)
        kernel_id = cls.loop.run_until_complete(
            hand_over(cls.manager, root / "project" / "conformance.ipynb"))
        client = BlockingKernelClient()
        client.load_connection_file(cls.manager.get_kernel(kernel_id).connection_file)
        client.start_channels()
        client.wait_for_ready(timeout=POOL_TIMEOUT)
        cls.kc = client

    @classmethod
    def tearDownClass(cls) -> None:
        cls.kc.stop_channels()
        cls.loop.run_until_complete(cls.manager.shutdown_all(now=True))
        cls.loop.close()
        asyncio.set_event_loop(None)
        shutil.rmtree(cls.base, ignore_errors=True)


del SandboxedPythonConformance  # collected in test_conformance.py already
