"""Servers on 127.0.0.1 for the network tests (issue 16), started by the tests themselves:

* ``HttpServer``: a threaded HTTP server with a few routes: ``/data.csv`` (a small CSV),
  ``/bytes/N`` (N bytes), ``/redirect?to=URL`` (302), ``/forever`` (a body that never ends),
  ``/echo`` (POST body back), anything else: ``hello from PATH``. Counts requests per path.
* ``SilentServer``: accepts connections and never sends a byte (a server that never answers).
* ``wheel_folder``: the pure-Python wheels of requests, httpx and their dependencies,
  downloaded from PyPI once into the repository's .cache (registries are the only network
  tests may use).
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Self

CSV = b"name,value\nalpha,1\nbeta,2\ngamma,3\n"
CHUNK = b"x" * (64 << 10)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.server.hits[url.path] += 1
        if url.path == "/data.csv":
            self._send(200, CSV, "text/csv")
        elif url.path.startswith("/bytes/"):
            self._send_bytes(int(url.path.rsplit("/", 1)[1]))
        elif url.path == "/redirect":
            target = urllib.parse.parse_qs(url.query)["to"][0]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/forever":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()  # no length: the body ends when the connection does (never)
            try:
                while not self.server.stopping.is_set():
                    self.wfile.write(CHUNK)
            except OSError:
                return
        else:
            self._send(200, f"hello from {url.path}".encode(), "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._send(200, self.rfile.read(length), "application/octet-stream")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_bytes(self, count: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(count))
        self.end_headers()
        block = b"y" * (1 << 20)
        left = count
        while left > 0:
            piece = block[:min(left, len(block))]
            self.wfile.write(piece)
            left -= len(piece)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    hits: Counter[str]
    stopping: threading.Event


class HttpServer:
    """``with HttpServer() as server:`` ``server.url("/data.csv")``, ``server.port``.
    ``server``: the server to run instead of a plain one (``tests.tls_servers`` passes its
    TLS one)."""

    def __init__(self, server: _Server | None = None) -> None:
        self._server = server or _Server(("127.0.0.1", 0), _Handler)
        self._server.hits = Counter()
        self._server.stopping = threading.Event()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def hits(self) -> Counter[str]:
        return self._server.hits

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()


class SilentServer:
    """Listens on 127.0.0.1 and accepts connections, but never reads or sends anything."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self._listener.close()


ROOT = Path(__file__).resolve().parent.parent
#: requests and its dependencies, pinned to the versions the host's test extra uses.
REQUESTS_WHEELS = ("requests==2.34.2", "urllib3==2.8.0", "idna==3.20",
                   "certifi==2026.10.19.post1", "charset-normalizer==3.5.3")
#: httpx (sync client) and what it needs beyond idna and certifi.
HTTPX_WHEELS = ("httpx==0.28.1", "httpcore==1.0.9", "h11==0.16.0", "anyio==4.16.0",
                "sniffio==1.3.1")


def _wheel_prefix(pin: str) -> str:
    name, version = pin.split("==")
    return f"{name.replace('-', '_')}-{version}-"


def wheel_folder(target: Path, pins: tuple[str, ...] = REQUESTS_WHEELS + HTTPX_WHEELS) -> Path:
    """Copy the pure wheels of ``pins`` into ``target`` (downloaded once into .cache from PyPI
    with ``pip download --only-binary :all: --platform any``: the pure variants only)."""
    cache = ROOT / ".cache" / "network-test-wheels"
    cache.mkdir(parents=True, exist_ok=True)
    missing = [pin for pin in pins if not list(cache.glob(_wheel_prefix(pin) + "*.whl"))]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary", ":all:", "--platform", "any", "--python-version",
                        "3.15", "--implementation", "py", "--abi", "none", "-d", str(cache),
                        *missing], check=True, capture_output=True, timeout=240)
    target.mkdir(parents=True, exist_ok=True)
    for pin in pins:
        for wheel in cache.glob(_wheel_prefix(pin) + "*.whl"):
            (target / wheel.name).write_bytes(wheel.read_bytes())
    return target
