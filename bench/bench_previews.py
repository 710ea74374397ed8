"""Preview proxy throughput and latency: a hello-world WSGI app inside a Sandboxed Python
kernel, through a real ``jupyter server`` with the jupyter_sandbox extension.

    .venv/bin/python bench/bench_previews.py [--requests 2000] [--concurrency 10]
        [--preview-host '{port}-{kernel}.localhost']

Prints requests/s and p50/p99 latency. By default previews share the Jupyter origin (the token
on the link); with ``--preview-host`` they have origins of their own, reached as a browser does
(the link's redirect, the preview cookie; ``jupyter_sandbox.client.open_preview``). The
comparison with the same app running natively behind jupyter-server-proxy (issue 5) is not
included yet: it needs jupyter-server-proxy in a separate benchmark environment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from jupyter_client.blocking.client import BlockingKernelClient

from jupyter_sandbox.client import open_preview

APP = '''
from jupyter_sandbox import serve
def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "12")])
    return [b"Hello world!"]
serve(hello, port=8000)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(base: Path, token: str, port: int,
                 preview_host: str = "") -> subprocess.Popen[bytes]:
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(base / "rt"),
           "JUPYTER_CONFIG_DIR": str(base / "cfg")}
    options = [f"--SandboxExtensionApp.preview_host={preview_host}"] if preview_host else []
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
         f"--port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={base / 'root'}",
         "--ServerApp.log_level=WARN", *options],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(url: str, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            auth = {"Authorization": f"token {token}"}
            if httpx.get(f"{url}api/status", headers=auth).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling the server's readiness, not synchronising test steps
    raise RuntimeError("jupyter server did not start")


async def load(url: str, token: str, kernel_id: str, own_origin: bool, requests: int,
               concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    client = await open_preview(url, token, kernel_id, 8000, own_origin=own_origin, timeout=60,
                                limits=httpx.Limits(max_connections=concurrency))
    async with client:
        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                response = await client.get("")
                latencies.append(time.perf_counter() - t0)
                assert response.status_code == 200 and response.content == b"Hello world!"

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--preview-host", default="",
                        help="SandboxExtensionApp.preview_host, e.g. '{port}-{kernel}.localhost'")
    args = parser.parse_args()
    cache = Path(__file__).resolve().parent.parent / ".cache" / "jupyter-sandbox"
    os.environ.setdefault("JUPYTER_SANDBOX_CACHE_DIR", str(cache))
    base = Path(tempfile.mkdtemp(prefix="jsb-bench-", dir="/tmp"))
    for name in ("rt", "cfg", "root"):
        (base / name).mkdir()
    token, port = secrets.token_hex(16), free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_server(base, token, port, args.preview_host)
    try:
        wait_ready(url, token)
        headers = {"Authorization": f"token {token}"}
        kernel_id = httpx.post(f"{url}api/kernels", headers=headers, timeout=60,
                               json={"name": "sandboxed-python", "path": ""}).json()["id"]
        client = BlockingKernelClient()
        client.load_connection_file(str(base / "rt" / f"kernel-{kernel_id}.json"))
        client.start_channels()
        client.wait_for_ready(timeout=60)
        client.execute_interactive(APP, timeout=60, output_hook=lambda _msg: None)
        own_origin = bool(args.preview_host)
        asyncio.run(load(url, token, kernel_id, own_origin, 100, args.concurrency))  # warm-up
        elapsed, latencies = asyncio.run(load(url, token, kernel_id, own_origin, args.requests,
                                              args.concurrency))
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print("| through | requests | concurrency | requests/s | p50 ms | p99 ms |")
        print("| --- | --- | --- | --- | --- | --- |")
        through = ("jupyter_sandbox preview proxy"
                   + (" (own origins)" if own_origin else ""))
        print(f"| {through} | {args.requests} | {args.concurrency} | "
              f"{args.requests / elapsed:.0f} | {statistics.median(latencies) * 1000:.1f} | "
              f"{p99 * 1000:.1f} |")
        print("| native app behind jupyter-server-proxy | not measured (not installed here) |")
        client.stop_channels()
        httpx.delete(f"{url}api/kernels/{kernel_id}", headers=headers, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
