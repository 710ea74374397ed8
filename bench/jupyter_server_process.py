"""A real ``jupyter server`` for the service and notebook benchmarks (bench_service.py,
bench_service_lifecycle.py, bench_notebook_kernel_start.py), the percentile they report and
the ``execute_request`` a front end sends over a kernel's WebSocket: one copy of the start
(free loopback port, fresh token, as root, ready once ``api/status`` answers) and of the stop.
Not a benchmark itself (the Makefile names the ones it runs).

The tests have their own starter (tests/jupyter_process.py: it keeps the server's log for the
failure messages); the benchmarks need the process (its kernels' memory) and no log.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(base: Path, *options: str,
                 ready_timeout: float = 120.0) -> tuple[subprocess.Popen[bytes], str, str]:
    """``jupyter server`` with its runtime, config, data and root folders under ``base``
    (``rt``, ``cfg``, ``data``, ``root``) and ``options`` (``--Class.trait=value``);
    (process, url ending with "/", token) once it answers. Stop it with ``stop_server``."""
    token, port = secrets.token_hex(16), free_port()
    for name in ("rt", "cfg", "data", "root"):
        (base / name).mkdir(exist_ok=True)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(base / "rt"),
           "JUPYTER_CONFIG_DIR": str(base / "cfg"), "JUPYTER_DATA_DIR": str(base / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
         f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={base / 'root'}", *options],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}api/status",
                         headers={"Authorization": f"token {token}"}).is_success:
                return process, url, token
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(process)
    raise RuntimeError(f"jupyter server did not answer within {ready_timeout:g} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server (it shuts its kernels down); kill it after 60 s."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank value at ``fraction`` (0.99 for p99) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def execute_request(code: str) -> dict[str, Any]:
    """The ``execute_request`` message JupyterLab sends on ``api/kernels/{id}/channels`` (the
    WebSocket's JSON form); its ``header.msg_id`` is what the replies' parent_header names."""
    return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request",
                       "username": "", "session": uuid.uuid4().hex, "version": "5.3",
                       "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}
