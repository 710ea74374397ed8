"""A real ``jupyter server`` subprocess (random port, token, root) with our extension enabled,
and Sandboxed Python kernels started through its REST API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from jupyter_client.blocking.client import BlockingKernelClient

from tests.jupyter_process import STARTUP_TIMEOUT, jupyter_process

#: The preview host pattern of the ``preview_host_server`` (browsers and our test transport
#: resolve every ``*.localhost`` name to loopback).
PREVIEW_HOST = "{port}-{kernel}.localhost"


@dataclass
class Server:
    url: str  # ends with "/"
    token: str
    runtime_dir: Path
    root_dir: Path
    log_lines: list[str]
    #: ``SandboxExtensionApp.preview_host``, None on the shared origin.
    preview_host: str | None = None

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"token {self.token}"},
                            timeout=60, **kwargs)


@contextlib.contextmanager
def running_server(base: Path, preview_host: str | None = None,
                   options: Sequence[str] = ()) -> Iterator[Server]:
    """A ``jupyter server`` whose runtime, config, data and root folders are under ``base``
    (reused as they are: a second server on the same ``base`` sees the first one's state),
    with previews on origins of their own when ``preview_host`` is given, and ``options``
    (``--Class.trait=value``) on its command line."""
    runtime, config, data, root = base / "rt", base / "cfg", base / "data", base / "root"
    for folder in (runtime, config, data, root):
        folder.mkdir(exist_ok=True)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_DATA_DIR": str(data)}
    env.pop("JUPYTER_SANDBOX_SERVER_URL", None)
    if preview_host:
        options = [f"--SandboxExtensionApp.preview_host={preview_host}", *options]
    with jupyter_process([sys.executable, "-m", "jupyter", "server", *options], root=root,
                         env=env) as running:
        yield Server(running.url, running.token, runtime, root, running.log_lines, preview_host)


def short_temp_dir() -> Path:
    """Short paths: Unix socket paths must stay under 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="jsb-", dir="/tmp"))


@pytest.fixture(scope="session")
def jupyter_server() -> Iterator[Server]:
    base = short_temp_dir()
    try:
        with running_server(base) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def preview_host_server() -> Iterator[Server]:
    """A second session server whose previews have origins of their own
    (``--SandboxExtensionApp.preview_host={port}-{kernel}.localhost``)."""
    base = short_temp_dir()
    try:
        with running_server(base, preview_host=PREVIEW_HOST) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Kernel:
    id: str
    client: BlockingKernelClient
    server: Server

    def run(self, code: str, timeout: float = 60) -> list[dict]:
        """Execute ``code``; return its output messages; fail on an error reply."""
        outputs: list[dict] = []
        reply = self.client.execute_interactive(code, timeout=timeout,
                                                output_hook=outputs.append)
        errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
        assert reply["content"]["status"] == "ok", errors
        return outputs

    def stdout(self, code: str) -> str:
        return "".join(m["content"]["text"] for m in self.run(code)
                       if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")

    def preview_url(self, port: int, path: str = "") -> str:
        return f"{self.server.url}sandbox/preview/{self.id}/{port}/{path}"


def start_kernel(server: Server) -> Kernel:
    with server.client() as http:
        response = http.post("api/kernels", json={"name": "sandboxed-python", "path": ""})
        response.raise_for_status()
        return attach_kernel(server, response.json()["id"])


def attach_kernel(server: Server, kernel_id: str) -> Kernel:
    """Connect to a kernel the server started, over its connection file."""
    client = BlockingKernelClient()
    client.load_connection_file(str(server.runtime_dir / f"kernel-{kernel_id}.json"))
    client.start_channels()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            client.wait_for_ready(timeout=max(1.0, deadline - time.monotonic()))
            break
        except RuntimeError as exc:
            # jupyter_client calls a kernel dead after one missed heartbeat (1 s), which a
            # starting kernel on a loaded 2-core machine can miss: the server says if it lives.
            with server.client() as http:
                alive = http.get(f"api/kernels/{kernel_id}").status_code == 200
            if "died" not in str(exc) or not alive or time.monotonic() > deadline:
                client.stop_channels()
                raise
    return Kernel(kernel_id, client, server)


def stop_kernel(kernel: Kernel) -> None:
    kernel.client.stop_channels()
    with kernel.server.client() as http:
        http.delete(f"api/kernels/{kernel.id}")


@pytest.fixture(scope="module")
def kernel(jupyter_server: Server) -> Iterator[Kernel]:
    kernel = start_kernel(jupyter_server)
    yield kernel
    stop_kernel(kernel)


def display_data(outputs: list[dict], mime: str) -> object:
    for message in outputs:
        data = message["content"].get("data") or {}
        if mime in data:
            return data[mime]
    raise AssertionError(f"no {mime} output in {json.dumps(outputs)[:2000]}")
