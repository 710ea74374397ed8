"""A real ``jupyter server`` with the sandbox service configured for tests (a cap, a small
upload limit), reusing the server tests' ``running_server``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def service_server() -> Iterator[Server]:
    base = short_temp_dir()
    try:
        yield from configured_server(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


#: Kernels the ``pooled_server``'s warm pool keeps ready.
POOL_SIZE = 4


@pytest.fixture(scope="session")
def pooled_server() -> Iterator[Server]:
    """A service server with a warm pool of ``POOL_SIZE`` kernels."""
    base = short_temp_dir()
    try:
        yield from configured_server(base, pool_size=POOL_SIZE)
    finally:
        shutil.rmtree(base, ignore_errors=True)
