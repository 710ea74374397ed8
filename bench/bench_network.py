"""Network benchmark, one run: the sandbox's brokered sockets (and the host's TLS) next to the
same client code running natively on the host, against the same local server on 127.0.0.1.

    .venv/bin/python bench/bench_network.py [--repeat 5] [--mb 50] [--requests 100] [--json OUT]

Measured, sandbox and native in turns, with ``urllib.request`` in both:

* a download of ``--mb`` MB (decimal) in one ``read()``, and in a 64 KiB ``read`` loop (what
  ``shutil.copyfileobj``/streaming code does): median throughput, and the sandbox/native
  ratio as the median of each turn's ratio (goal ≥ 0.5× native);
* the same download over https (the host's TLS, a ``trustme`` test CA as the policy's
  ``ca_bundle``; skipped when trustme is not installed);
* connect latency: ``--requests`` small requests, a new connection each (``Connection: close``),
  p50 and p90 in the sandbox and natively, over http and (a TLS handshake each) https.

Times are taken around the transfer with ``time.perf_counter`` on each side (inside the guest
for the sandbox), so cell overhead is not counted. The server is a threaded stdlib HTTP server
writing 1 MiB blocks from memory, in this process.
"""

from __future__ import annotations

import argparse
import http.server
import json
import ssl
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.network.policy import NetworkPolicy
from jupyter_sandbox.runtime.sandbox import Sandbox

BLOCK = b"z" * (1 << 20)
CHUNK = 64 << 10


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        if self.path.startswith("/bytes/"):
            count = int(self.path.rsplit("/", 1)[1])
        else:
            count = 2
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(count))
        self.end_headers()
        left = count
        while left > 0:
            piece = BLOCK if left >= len(BLOCK) else BLOCK[:left]
            self.wfile.write(piece)
            left -= len(piece)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext | None = None

    def get_request(self) -> Any:
        sock, address = super().get_request()
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, address


def start_server(context: ssl.SSLContext | None = None) -> _Server:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.context = context
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# The same client code on both sides (the guest runs it as a cell).
CLIENT = '''
import time, urllib.request, ssl
def download(url, loop, context=None):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120, context=context) as response:
        if loop:
            total = 0
            while True:
                piece = response.read(CHUNK)
                if not piece:
                    break
                total += len(piece)
        else:
            total = len(response.read())
    return total, time.perf_counter() - start
def latencies(url, count, context=None):
    times = []
    for _ in range(count):
        start = time.perf_counter()
        request = urllib.request.Request(url, headers={"Connection": "close"})
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            response.read()
        times.append(time.perf_counter() - start)
    return times
'''.replace("CHUNK", str(CHUNK))


def native_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(CLIENT, namespace)  # our own constant code: the native reference
    return namespace


def in_sandbox(box: Sandbox, expression: str) -> Any:
    messages: list[dict[str, Any]] = []
    reply = box.execute(f"import json as _j; print(_j.dumps({expression}))", messages.append)
    if reply.status != "ok":
        raise RuntimeError(f"{reply.ename}: {reply.evalue}")
    text = "".join(m["content"]["text"] for m in messages
                   if m.get("msg_type") == "stream" and m["content"].get("name") == "stdout")
    return json.loads(text.strip().splitlines()[-1])


def throughput(size: int, seconds: list[float]) -> float:
    return size / statistics.median(seconds) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    size = args.mb * 1_000_000

    folder = Path(tempfile.mkdtemp(prefix="bench-network-"))
    plain = start_server()
    servers = [("http", plain, None)]
    native_tls = None
    try:
        import trustme
    except ImportError:
        print("trustme is not installed: the https rows are skipped")
    else:
        ca = trustme.CA()
        ca_file = folder / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_context)
        servers.append(("https", start_server(server_context), str(ca_file)))
        native_tls = ssl.create_default_context(cafile=str(ca_file))

    ports = [f"127.0.0.1:{server.server_address[1]}" for _, server, _ in servers]
    ca_bundle = servers[-1][2] if len(servers) > 1 else None
    policy = NetworkPolicy(enabled=True, allow=tuple(ports), ca_bundle=ca_bundle,
                           max_bytes_per_cell=4 * size + (64 << 20),
                           max_bytes_per_sandbox=1 << 40)
    native = native_namespace()
    results: dict[str, Any] = {"mb": args.mb, "repeat": args.repeat,
                               "requests": args.requests}
    config = SandboxConfig(state_dir=folder / "state")
    with Sandbox(config) as box:
        box.set_network_policy(policy)
        in_sandbox(box, "1")
        box.execute(CLIENT)
        rows: list[tuple[str, float, float, float]] = []
        for scheme, server, _ in servers:
            url = f"{scheme}://127.0.0.1:{server.server_address[1]}/bytes/{size}"
            guest_context = "ssl.create_default_context()" if scheme == "https" else "None"
            host_context = native_tls if scheme == "https" else None
            for loop in (False, True):
                guest: list[float] = []
                host: list[float] = []
                for _ in range(args.repeat):  # in turns, so load hits both alike
                    got, seconds = in_sandbox(box, f"download({url!r}, {loop}, {guest_context})")
                    if got != size:
                        raise RuntimeError(f"the sandbox read {got} bytes, not {size}")
                    guest.append(seconds)
                    got, seconds = native["download"](url, loop, host_context)
                    host.append(seconds)
                name = f"{scheme} download, {'64 KiB read loop' if loop else 'one read()'}"
                # The ratio is the median of each turn's own ratio (sandbox and native back to
                # back): steadier than a ratio of medians on a machine whose load changes.
                pairs = statistics.median(h / g for g, h in zip(guest, host, strict=True))
                rows.append((name, throughput(size, guest), throughput(size, host), pairs))
        latency_rows: list[tuple[str, list[float], list[float]]] = []
        for scheme, server, _ in servers:
            small = f"{scheme}://127.0.0.1:{server.server_address[1]}/small"
            guest_context = "ssl.create_default_context()" if scheme == "https" else "None"
            guest_lat = in_sandbox(box, f"latencies({small!r}, {args.requests}, "
                                        f"{guest_context})")
            host_lat = native["latencies"](small, args.requests,
                                           native_tls if scheme == "https" else None)
            latency_rows.append((scheme, guest_lat, host_lat))

    print(f"{args.mb} MB from a local server, median of {args.repeat}, sandbox and native "
          "in turns:")
    print(f"{'measurement':44} {'sandbox':>12} {'native':>12} {'ratio':>7}")
    for name, guest_mbs, host_mbs, ratio in rows:
        print(f"{name:44} {guest_mbs:9.0f} MB/s {host_mbs:9.0f} MB/s {ratio:6.2f}x")
        results[name] = {"sandbox_mb_s": guest_mbs, "native_mb_s": host_mbs, "ratio": ratio}
    for scheme, guest_lat, host_lat in latency_rows:
        for label, values in (("p50", 0.5), ("p90", 0.9)):
            guest_ms = statistics.quantiles(guest_lat, n=100)[int(values * 100) - 1] * 1e3
            host_ms = statistics.quantiles(host_lat, n=100)[int(values * 100) - 1] * 1e3
            name = f"{scheme} request on a new connection, {label}"
            print(f"{name:44} {guest_ms:10.2f} ms {host_ms:10.2f} ms "
                  f"{guest_ms / host_ms:6.2f}x")
            results[name] = {"sandbox_ms": guest_ms, "native_ms": host_ms}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
