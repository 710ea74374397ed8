"""Sandbox lifecycle benchmark, side by side in one run (issue 17): create → exec ``1+1`` →
delete through ``sandbox/api/v1`` with a warm pool, the same without a pool, and a stock
``python3`` kernel through jupyter_server's own ``/api/kernels`` + its WebSocket (the
Jupyter protocol's ``execute_request``); a burst of concurrent creates from the pool; and the
idle memory of a pooled kernel (RSS and USS) with the sandboxes per GB it implies.

    .venv/bin/python bench/bench_service_lifecycle.py [--rounds N] [--burst N] [--pool N]

Each pooled round starts once the pool is full again (its refill is not timed, nor running
while a round is timed); ``--pool`` must be at least ``--burst`` for the burst to be served
from the pool. Medians and p99 in milliseconds; ratios are ours / stock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from jupyter_server_process import execute_request, percentile, start_server, stop_server

from jupyter_sandbox.client import AsyncSandboxClient, SandboxClient

MiB = 1 << 20


def _start_server(base: Path, pool: int) -> tuple[subprocess.Popen[bytes], str, str]:
    """The service server with a warm pool of ``pool`` kernels (no memory budget to cap it)."""
    return start_server(base, "--SandboxExtensionApp.max_sandboxes=200",
                        f"--SandboxExtensionApp.pool_size={pool}",
                        "--SandboxExtensionApp.pool_memory_budget_mib=0")


def _wait_full(client: SandboxClient, deadline: float = 600.0) -> dict[str, Any]:
    end = time.monotonic() + deadline
    stats = client.pool_stats()
    while stats["idle"] < stats["size"] or stats["starting"]:
        if time.monotonic() > end:
            raise RuntimeError(f"the pool did not fill within {deadline:g} s: {stats}")
        time.sleep(0.05)
        stats = client.pool_stats()
    return stats


#: Each round's (create, exec, delete) seconds.
Phases = list[tuple[float, float, float]]


def _service_rounds(client: SandboxClient, rounds: int,
                    before_each: Callable[[], object] = lambda: None) -> Phases:
    phases = []
    for _ in range(rounds):
        before_each()
        started = time.perf_counter()
        sandbox = client.create_sandbox()
        created = time.perf_counter()
        if sandbox.exec("1+1").raise_for_status().result != "2":
            raise RuntimeError("1+1 did not answer 2")
        executed = time.perf_counter()
        sandbox.delete()
        phases.append((created - started, executed - created, time.perf_counter() - executed))
    return phases


async def _stock_round(url: str, token: str) -> tuple[float, float, float]:
    """POST /api/kernels (python3) → WebSocket execute_request 1+1 → execute_reply →
    DELETE /api/kernels/{id}, as a Jupyter front end does."""
    headers = {"Authorization": f"token {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        started = time.perf_counter()
        kernel = (await http.post("api/kernels", json={"name": "python3"})).json()
        created = time.perf_counter()
        ws_url = url.replace("http", "ws", 1) + f"api/kernels/{kernel['id']}/channels"
        async with websockets.connect(ws_url, additional_headers=headers,
                                      max_size=None) as ws:
            request = execute_request("1+1")
            msg_id = request["header"]["msg_id"]
            await ws.send(json.dumps(request))
            result, replied, idle = None, False, False
            while not (replied and idle):  # the reply (shell) and the result (IOPub) are on
                message = json.loads(await ws.recv())  # two channels: either may come first
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if message["msg_type"] == "execute_result":
                    result = message["content"]["data"]["text/plain"]
                replied = replied or message["msg_type"] == "execute_reply"
                idle = idle or (message["msg_type"] == "status"
                                and message["content"]["execution_state"] == "idle")
        if result != "2":
            raise RuntimeError(f"the stock kernel answered {result!r} to 1+1")
        executed = time.perf_counter()
        (await http.delete(f"api/kernels/{kernel['id']}")).raise_for_status()
        return created - started, executed - created, time.perf_counter() - executed


async def _burst(url: str, token: str, count: int) -> list[float]:
    async with AsyncSandboxClient(url, token) as client:
        async def one() -> tuple[float, Any]:
            started = time.perf_counter()
            sandbox = await client.create_sandbox()
            return time.perf_counter() - started, sandbox

        made = await asyncio.gather(*(one() for _ in range(count)))
        results = await asyncio.gather(*(sandbox.exec("1+1") for _, sandbox in made))
        if [r.result for r in results] != ["2"] * count:
            raise RuntimeError("a sandbox of the burst did not answer 1+1")
        await asyncio.gather(*(sandbox.delete() for _, sandbox in made))
        return [elapsed for elapsed, _ in made]


def _kernel_memory(server_pid: int) -> tuple[list[int], list[int]]:
    """RSS and USS of every sandboxed kernel process of the server."""
    rss, uss = [], []
    for child in psutil.Process(server_pid).children(recursive=True):
        if "jupyter_sandbox.kernel" in " ".join(child.cmdline()):
            info = child.memory_full_info()
            rss.append(info.rss)
            uss.append(info.uss)
    return rss, uss


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="lifecycle rounds of each kind")
    parser.add_argument("--burst", type=int, default=10, help="concurrent creates")
    parser.add_argument("--pool", type=int, default=10, help="pool_size of the pooled server")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures: dict[str, Any] = {"rounds": args.rounds, "burst": args.burst, "pool": args.pool,
                               "load_before": os.getloadavg()}

    base = Path(tempfile.mkdtemp(prefix="jsb-bench-", dir="/tmp"))
    (base / "pooled").mkdir()
    process, url, token = _start_server(base / "pooled", args.pool)
    try:
        with SandboxClient(url, token) as client:
            stats = _wait_full(client)
            rss, uss = _kernel_memory(process.pid)
            figures["idle_rss"], figures["idle_uss"] = rss, uss
            stock = [asyncio.run(_stock_round(url, token)) for _ in range(args.rounds)]
            pooled = _service_rounds(client, args.rounds, lambda: _wait_full(client))
            _wait_full(client)
            burst = asyncio.run(_burst(url, token, args.burst))
            stats = client.pool_stats()
    finally:
        stop_server(process)
    (base / "plain").mkdir()
    process, url, token = _start_server(base / "plain", 0)
    try:
        with SandboxClient(url, token) as client:
            plain = _service_rounds(client, max(3, args.rounds // 4))
    finally:
        stop_server(process)
        shutil.rmtree(base, ignore_errors=True)

    figures.update(stock=stock, pooled=pooled, plain=plain, burst_create=burst, stats=stats,
                   load_after=os.getloadavg())
    ms = 1000.0
    rows = [("stock python3: /api/kernels + WebSocket", stock),
            (f"service, warm pool ({args.pool})", pooled),
            ("service, no pool", plain)]
    stock_p50 = statistics.median(sum(p) for p in stock)
    print(f"create -> exec 1+1 -> delete ({args.rounds} rounds; no pool: {len(plain)})")
    print(f"{'':<42}{'p50 ms':>8}{'p99 ms':>8}{'x stock':>8}"
          f"{'create':>8}{'exec':>8}{'delete':>8}")
    for name, phases in rows:
        totals = [sum(p) for p in phases]
        p50 = statistics.median(totals)
        parts = "".join(f"{statistics.median(p[i] for p in phases) * ms:>8.1f}"
                        for i in range(3))
        print(f"{name:<42}{p50 * ms:>8.1f}{percentile(totals, 0.99) * ms:>8.1f}"
              f"{p50 / stock_p50:>8.2f}{parts}")
    print("(create, exec, delete: medians of each phase, ms)")
    print(f"\nburst of {args.burst} concurrent creates from the pool: p50 "
          f"{statistics.median(burst) * ms:.1f} ms, max {max(burst) * ms:.1f} ms")
    print(f"pool: {stats['hits']} hits, {stats['misses']} misses, hand-over p50 "
          f"{stats['handover_p50_ms']} ms")
    if rss:
        rss_mib, uss_mib = statistics.median(rss) / MiB, statistics.median(uss) / MiB
        print(f"idle pooled kernel ({len(rss)}): RSS {rss_mib:.1f} MiB (median), USS "
              f"{uss_mib:.1f} MiB -> {1024 / rss_mib:.1f} sandboxes per GB by RSS, "
              f"{1024 / uss_mib:.1f} by USS")
    print(f"\nload average before {figures['load_before'][0]:.2f}, after "
          f"{figures['load_after'][0]:.2f}; {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
