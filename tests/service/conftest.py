"""A real ``jupyter server`` with the sandbox service configured for tests (a cap, a small
upload limit), reusing the server tests' ``running_server``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Server, running_server, short_temp_dir

MAX_SANDBOXES = 24
MAX_UPLOAD_MIB = 24


def configured_server(base: Path, **service: object) -> Iterator[Server]:
    (base / "cfg").mkdir(parents=True, exist_ok=True)
    config = {"SandboxExtensionApp": {"max_sandboxes": MAX_SANDBOXES,
                                      "max_upload_mib": MAX_UPLOAD_MIB,
                                      "sandbox_memory_mib": 512,
                                      # 20 kernels start at once on 2 cores in one test
                                      "sandbox_start_timeout": 300, **service}}
    (base / "cfg" / "jupyter_server_config.json").write_text(json.dumps(config))
    with running_server(base) as server:
        yield server


def temporary_server(kernel_config: dict[str, Any] | None = None,
                     **service: object) -> Iterator[Server]:
    """``configured_server`` in a fresh short folder, removed afterwards; ``kernel_config``
    (e.g. ``{"SandboxKernel": {...}}``): the kernels' jupyter_sandbox_kernel_config.json."""
    base = short_temp_dir()
    try:
        if kernel_config is not None:
            (base / "cfg").mkdir(parents=True)
            (base / "cfg" / "jupyter_sandbox_kernel_config.json").write_text(
                json.dumps(kernel_config))
        yield from configured_server(base, **service)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def service_server() -> Iterator[Server]:
    yield from temporary_server()


#: Kernels the ``pooled_server``'s warm pool keeps ready.
POOL_SIZE = 4


@pytest.fixture(scope="session")
def pooled_server() -> Iterator[Server]:
    """A service server with a warm pool of ``POOL_SIZE`` kernels."""
    yield from temporary_server(pool_size=POOL_SIZE)
