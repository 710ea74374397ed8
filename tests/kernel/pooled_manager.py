"""Driving an in-process ``PooledKernelManager`` in tests: wait until a pre-started kernel is
waiting, hand it over to a notebook, talk to it (one copy for the kernel and security tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from jupyter_client.blocking.client import BlockingKernelClient

from jupyter_sandbox.kernel.control_protocol import SESSION_NAME_ENV
from jupyter_sandbox.server_extension.pooled_kernels import PooledKernelManager

#: A pre-started kernel boots a whole sandbox; on a shared 2-core machine that can take long.
POOL_TIMEOUT = 240.0


async def wait_for_pool(manager: PooledKernelManager) -> str:
    """The id of a kernel waiting in ``manager``'s pool, once there is one; fails after
    ``POOL_TIMEOUT`` or as soon as a pre-start failed (the message shows the pool's status)."""
    deadline = time.monotonic() + POOL_TIMEOUT
    while manager.pool_status()["waiting"] < 1:
        if time.monotonic() > deadline or manager.pool_status()["failed"]:
            raise AssertionError(f"no pooled kernel became ready: {manager.pool_status()}")
        await asyncio.sleep(0.1)
    return next(iter(manager._pool_managers))


async def hand_over(manager: PooledKernelManager, notebook: Path,
                    kernel_name: str = "sandboxed-python") -> str:
    """Start the kernel of ``notebook`` (in a folder directly under the manager's root) once a
    kernel waits, and check it was the pooled one (a hit); its kernel id."""
    await wait_for_pool(manager)
    kernel_id = await manager.start_kernel(
        path=notebook.parent.name, kernel_name=kernel_name,
        env={**os.environ, SESSION_NAME_ENV: str(notebook)})
    assert manager.pool_status()["hits"] == 1, manager.pool_status()
    return kernel_id


@contextlib.contextmanager
def kernel_client(manager: PooledKernelManager, kernel_id: str,
                  timeout: float) -> Iterator[BlockingKernelClient]:
    """A client of the manager's kernel ``kernel_id``, ready (``wait_for_ready``); its
    channels are stopped on exit."""
    client = BlockingKernelClient()
    client.load_connection_file(manager.get_kernel(kernel_id).connection_file)
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        yield client
    finally:
        client.stop_channels()
