"""Preview proxy throughput and latency: a hello-world WSGI app inside a Sandboxed Python
kernel, through a real ``jupyter server`` with the jupyter_sandbox extension, next to its
reference in the same run: the same app running natively on the host behind
jupyter-server-proxy, and the native app reached directly (no proxy) as a floor.

    .venv/bin/python bench/bench_previews.py [--requests 2000] [--concurrency 10]
        [--preview-host '{port}-{kernel}.localhost'] [--json OUT]

Prints one table (requests/s, p50/p99 latency, ours/jupyter-server-proxy ratios). By default
previews share the Jupyter origin (the token on the link); with ``--preview-host`` they have
origins of their own, reached as a browser does (the link's redirect, the preview cookie;
``jupyter_sandbox.client.open_preview``).

jupyter-server-proxy is never installed into the project's venv: the first run creates a
separate venv, ``.cache/bench-jsp-venv`` in the checkout, with the pinned ``JSP_PINS`` from
PyPI (later runs reuse it; changing the pins recreates it). A plain ``jupyter server`` from it
serves ``/proxy/{port}/`` with a token, in front of the native app: stdlib ``wsgiref`` with
``socketserver.ThreadingMixIn`` (a thread per connection, HTTP/1.0, so every request is a new
connection, as it also is from jupyter-server-proxy to its backend). The guest's app serves
one request at a time; the native one may overlap requests, which favours the reference.
Every variant is measured by the same client code (``load``), with the same request count
and concurrency, after the same warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
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

# The same app on the host: wsgiref, one thread per connection, no request log; a listen
# backlog of 128 (socketserver's 5 overflows at concurrency 10: dropped SYNs, 1 s stalls).
NATIVE_APP = '''
import socketserver, sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "12")])
    return [b"Hello world!"]
class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128
class Quiet(WSGIRequestHandler):
    def log_message(self, *args): pass
make_server("127.0.0.1", int(sys.argv[1]), hello, Server, Quiet).serve_forever()
'''

CHECKOUT = Path(__file__).resolve().parent.parent
JSP_VENV = CHECKOUT / ".cache" / "bench-jsp-venv"
JSP_PINS = ("jupyter_server==2.21.1", "jupyter-server-proxy==4.6.0", "tornado==6.6.1")

OpenClient = Callable[[httpx.Limits], Awaitable[httpx.AsyncClient]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jsp_python() -> Path:
    """The python of the benchmark's own jupyter-server-proxy venv, made once (or again when
    ``JSP_PINS`` changed) so that the project's venv never gets jupyter-server-proxy."""
    python, stamp = JSP_VENV / "bin" / "python", JSP_VENV / "pins.txt"
    wanted = "\n".join(JSP_PINS)
    if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(JSP_VENV, ignore_errors=True)
        print(f"creating {JSP_VENV} with {' '.join(JSP_PINS)} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(JSP_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *JSP_PINS], check=True)
        stamp.write_text(wanted)
    return python


def installed_versions(python: Path | str, names: list[str]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys;"
            "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))")
    out = subprocess.run([str(python), "-c", code, *names], check=True, capture_output=True,
                         text=True).stdout
    versions: dict[str, str] = json.loads(out)
    return versions


def start_server(python: Path | str, base: Path, token: str, port: int,
                 options: list[str]) -> subprocess.Popen[bytes]:
    for name in ("rt", "cfg", "root"):
        (base / name).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(base / "rt"),
           "JUPYTER_CONFIG_DIR": str(base / "cfg")}
    return subprocess.Popen(
        [str(python), "-m", "jupyter", "server", "--no-browser", "--allow-root",
         f"--port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={base / 'root'}",
         "--ServerApp.log_level=WARN", *options],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(url: str, headers: dict[str, str], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a server's readiness, not synchronising test steps
    raise RuntimeError(f"{what} did not answer {url} within {timeout} s")


async def load(open_client: OpenClient, requests: int,
               concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    client = await open_client(httpx.Limits(max_connections=concurrency))
    async with client:
        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                response = await client.get("")
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200 or response.content != b"Hello world!":
                    raise RuntimeError(f"unexpected answer {response.status_code} "
                                       f"{response.content[:200]!r} from {response.url}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies


def measure(open_client: OpenClient, requests: int, concurrency: int) -> dict[str, float]:
    """100 requests of warm-up, then ``requests``: requests/s, p50 and p99 in ms."""
    asyncio.run(load(open_client, 100, concurrency))
    elapsed, latencies = asyncio.run(load(open_client, requests, concurrency))
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {"requests_per_s": requests / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": p99 * 1000}


def plain_client(base_url: str, headers: dict[str, str]) -> OpenClient:
    async def open_client(limits: httpx.Limits) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits)
    return open_client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--preview-host", default="",
                        help="SandboxExtensionApp.preview_host, e.g. '{port}-{kernel}.localhost'")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    args = parser.parse_args()
    load_average = os.getloadavg()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_average)} "
          f"({os.cpu_count()} CPUs)")
    os.environ.setdefault("JUPYTER_SANDBOX_CACHE_DIR", str(CHECKOUT / ".cache" / "jupyter-sandbox"))
    python = jsp_python()
    versions = {"ours": installed_versions(sys.executable, ["jupyter_server", "tornado", "httpx"]),
                "jsp venv": installed_versions(python, ["jupyter_server", "jupyter-server-proxy",
                                                        "tornado"])}
    for where, found in versions.items():
        print(f"{where}: " + ", ".join(f"{name} {version}" for name, version in found.items()))

    base = Path(tempfile.mkdtemp(prefix="jsb-bench-", dir="/tmp"))
    token = secrets.token_hex(16)
    headers = {"Authorization": f"token {token}"}
    port, jsp_port, app_port = free_port(), free_port(), free_port()
    url, jsp_url = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{jsp_port}/"
    app_url = f"http://127.0.0.1:{app_port}/"
    options = [f"--SandboxExtensionApp.preview_host={args.preview_host}"] * bool(args.preview_host)
    processes = [start_server(sys.executable, base / "ours", token, port, options),
                 start_server(python, base / "jsp", token, jsp_port, []),
                 subprocess.Popen([sys.executable, "-c", NATIVE_APP, str(app_port)])]
    results: dict[str, dict[str, float]] = {}
    try:
        wait_ready(f"{url}api/status", headers, "our jupyter server")
        kernel_id = httpx.post(f"{url}api/kernels", headers=headers, timeout=60,
                               json={"name": "sandboxed-python", "path": ""}).json()["id"]
        kernel = BlockingKernelClient()
        kernel.load_connection_file(str(base / "ours" / "rt" / f"kernel-{kernel_id}.json"))
        kernel.start_channels()
        kernel.wait_for_ready(timeout=60)
        kernel.execute_interactive(APP, timeout=60, output_hook=lambda _msg: None)
        own_origin = bool(args.preview_host)

        async def open_ours(limits: httpx.Limits) -> httpx.AsyncClient:
            return await open_preview(url, token, kernel_id, 8000, own_origin=own_origin,
                                      timeout=60, limits=limits)

        ours = "jupyter_sandbox preview proxy" + (" (own origins)" if own_origin else "")
        jsp = "native app behind jupyter-server-proxy"
        direct = "native app directly (no proxy)"
        results[ours] = measure(open_ours, args.requests, args.concurrency)
        kernel.stop_channels()
        httpx.delete(f"{url}api/kernels/{kernel_id}", headers=headers, timeout=60)

        proxied = f"{jsp_url}proxy/{app_port}/"
        wait_ready(proxied, headers, "jupyter-server-proxy")
        results[jsp] = measure(plain_client(proxied, headers), args.requests, args.concurrency)
        results[direct] = measure(plain_client(app_url, {}), args.requests, args.concurrency)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)

    print(f"\n{args.requests} requests, concurrency {args.concurrency}\n")
    print("| through | requests/s | p50 ms | p99 ms | requests/s ours/jsp | p99 ours/jsp |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, figures in results.items():
        ratios = " | "
        if name == ours:
            ratios = (f"{figures['requests_per_s'] / results[jsp]['requests_per_s']:.2f}× | "
                      f"{figures['p99_ms'] / results[jsp]['p99_ms']:.2f}×")
        print(f"| {name} | {figures['requests_per_s']:.0f} | {figures['p50_ms']:.1f} | "
              f"{figures['p99_ms']:.1f} | {ratios} |")
    if args.json:
        args.json.write_text(json.dumps({
            "requests": args.requests, "concurrency": args.concurrency,
            "preview_host": args.preview_host, "load_average_at_start": load_average,
            "versions": versions, "results": results,
            "ours_over_jsp": {key: results[ours][key] / results[jsp][key]
                              for key in ("requests_per_s", "p50_ms", "p99_ms")}}, indent=2))


if __name__ == "__main__":
    main()
