"""Notebook kernel start: a pooled Sandboxed Python kernel next to the stock python3 kernel.

What a notebook waits for when it is opened: from the moment jupyter_server's kernel manager is
asked for the notebook's kernel (``start_kernel(path=..., kernel_name=..., env=...)``, as the
session manager calls it) to the first ``execute_reply`` (``1+1``) on a client of that kernel.

* ``stock``: jupyter_server's ``AsyncMappingKernelManager`` launching ipykernel (``python3``);
* ``pooled``: ``PooledKernelManager`` handing over its pre-started ``sandboxed-python`` kernel
  (its pool is refilled, untimed, before each run);
* ``sandbox, no pool``: the same manager with ``prespawn=0`` (a normal launch), for reference.

The three are measured in turns within one run (stock, pooled, no pool, stock, ...), each kernel
shut down before the next and the pool full again (its refill untimed and never running during
a measurement), so a busy machine slows them alike.

Then the same through a real ``jupyter server`` as JupyterLab opens a notebook: ``POST
api/sessions`` for the notebook, the kernel's WebSocket, ``execute_request`` → ``execute_reply``
— stock ``python3`` next to the pooled ``sandboxed-python`` (the server runs the
``PooledKernelManager``; ``--no-server`` skips this part).

Prints medians, the ratios pooled/stock (goal: at most 0.5), the hand-over itself, the memory
a waiting kernel holds and the load average.

    .venv/bin/python bench/bench_notebook_kernel_start.py [--repeat N] [--no-server] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server_process import execute_request, start_server, stop_server

from jupyter_sandbox.server_extension.pooled_kernels import PooledKernelManager

READY_TIMEOUT = 240.0


async def _first_reply(manager: AsyncMappingKernelManager, kernel_name: str, folder: Path
                       ) -> tuple[str, float]:
    """Seconds from ``start_kernel`` to the first execute_reply; the kernel's id."""
    env = {**os.environ, "JPY_SESSION_NAME": str(folder / "bench.ipynb")}
    started = time.perf_counter()
    kernel_id = await manager.start_kernel(path=folder.name, kernel_name=kernel_name, env=env)
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        # Sent at once, as a front end does: ZeroMQ holds it until the kernel listens. (Not
        # wait_for_ready: it flushes IOPub for 0.2 s after kernel_info, a fixed cost that
        # no notebook front end pays.)
        msg_id = client.execute("1+1")
        while True:
            reply = await client.get_shell_msg(timeout=READY_TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        elapsed = time.perf_counter() - started
    finally:
        client.stop_channels()
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{kernel_name}: 1+1 failed: {reply['content']}")
    return kernel_id, elapsed


async def _pool_warm(manager: PooledKernelManager) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while manager.pool_status()["waiting"] < manager.prespawn or \
            manager.pool_status()["starting"]:
        if time.monotonic() > deadline or manager.pool_status()["failed"]:
            raise RuntimeError(f"the pool did not fill: {manager.pool_status()}")
        await asyncio.sleep(0.05)


def _waiting_kernel_rss_mib() -> float:
    """RSS of the one Sandboxed Python kernel process running (the pool's waiting one: the
    others were shut down), in MiB."""
    kernels = [p for p in psutil.Process().children(recursive=True)
               if "jupyter_sandbox.kernel" in " ".join(p.cmdline())]
    if len(kernels) != 1:
        raise RuntimeError(f"expected one waiting kernel process, found {len(kernels)}")
    return kernels[0].memory_info().rss / (1 << 20)


async def run(repeat: int) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="jsb-bench-", dir="/tmp"))  # short socket paths
    runtime, root = base / "rt", base / "root"
    runtime.mkdir()
    (root / "project").mkdir(parents=True)
    (root / "project" / "data.csv").write_text("a,b\n1,2\n")
    folder = root / "project"
    managers: dict[str, AsyncMappingKernelManager] = {
        "stock": AsyncMappingKernelManager(connection_dir=str(runtime), root_dir=str(root)),
        "pooled": PooledKernelManager(connection_dir=str(runtime), root_dir=str(root),
                                      prespawn=1),
        "sandbox, no pool": PooledKernelManager(connection_dir=str(runtime),
                                                root_dir=str(root), prespawn=0),
    }
    kernel_names = {"stock": "python3", "pooled": "sandboxed-python",
                    "sandbox, no pool": "sandboxed-python"}
    times: dict[str, list[float]] = {name: [] for name in managers}
    rss: list[float] = []
    pooled = managers["pooled"]
    assert isinstance(pooled, PooledKernelManager)
    try:
        for _ in range(repeat):
            for name, manager in managers.items():
                await _pool_warm(pooled)
                if manager is pooled:
                    rss.append(_waiting_kernel_rss_mib())
                kernel_id, seconds = await _first_reply(manager, kernel_names[name], folder)
                times[name].append(seconds)
                await manager.shutdown_kernel(kernel_id, now=True)
        status = pooled.pool_status()
        if status["hits"] != repeat:
            raise RuntimeError(f"not every pooled start was a hand-over: {status}")
    finally:
        for manager in managers.values():
            await manager.shutdown_all(now=True)
        shutil.rmtree(base, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"repeat": repeat, "seconds": times, "median_seconds": medians,
            "ratio_pooled_to_stock": medians["pooled"] / medians["stock"],
            "ratio_no_pool_to_stock": medians["sandbox, no pool"] / medians["stock"],
            "handover_median_seconds": status["handover_seconds"]["median"],
            "waiting_kernel_rss_mib": statistics.median(rss),
            "load_average": os.getloadavg()}


async def _server_pool_warm(http: httpx.AsyncClient) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        status = (await http.get("sandbox/api/notebook-pool")).json()
        if status["waiting"] >= 1 and not status["starting"]:
            return status
        if time.monotonic() > deadline or status["failed"]:
            raise RuntimeError(f"the server's pool did not fill: {status}")
        await asyncio.sleep(0.05)


async def _open_notebook(http: httpx.AsyncClient, url: str, token: str, path: str,
                         kernel_name: str) -> float:
    """Seconds from ``POST api/sessions`` to the execute_reply of ``1+1`` over the kernel's
    WebSocket (the session is deleted afterwards, untimed)."""
    started = time.perf_counter()
    created = await http.post("api/sessions", json={
        "path": path, "type": "notebook", "name": Path(path).name,
        "kernel": {"name": kernel_name}})
    created.raise_for_status()
    session = created.json()
    channels = (url.replace("http", "ws", 1)
                + f"api/kernels/{session['kernel']['id']}/channels?session_id={uuid.uuid4().hex}")
    async with websockets.connect(channels, additional_headers={
            "Authorization": f"token {token}"}, max_size=None) as ws:
        request = execute_request("1+1")
        msg_id = request["header"]["msg_id"]
        await ws.send(json.dumps(request))
        while True:
            message = json.loads(await ws.recv())
            if message.get("parent_header", {}).get("msg_id") == msg_id and \
                    message["msg_type"] == "execute_reply":
                break
    elapsed = time.perf_counter() - started
    if message["content"]["status"] != "ok":
        raise RuntimeError(f"{kernel_name}: 1+1 failed: {message['content']}")
    (await http.delete(f"api/sessions/{session['id']}")).raise_for_status()
    return elapsed


async def run_server(repeat: int) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="jsb-bench-", dir="/tmp"))
    (base / "root" / "project").mkdir(parents=True)
    # the pooled kernel manager, set by the extension
    process, url, token = start_server(base, "--SandboxExtensionApp.notebook_kernel_pool=True",
                                       ready_timeout=READY_TIMEOUT)
    kinds = {"stock": "python3", "pooled": "sandboxed-python"}
    times: dict[str, list[float]] = {name: [] for name in kinds}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=READY_TIMEOUT,
                                     headers={"Authorization": f"token {token}"}) as http:
            for _ in range(repeat):
                for name, kernel_name in kinds.items():
                    await _server_pool_warm(http)
                    times[name].append(await _open_notebook(
                        http, url, token, f"project/{name}.ipynb", kernel_name))
            status = await _server_pool_warm(http)
    finally:
        stop_server(process)
        shutil.rmtree(base, ignore_errors=True)
    if status["hits"] != repeat:
        raise RuntimeError(f"not every pooled session got a pre-started kernel: {status}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"seconds": times, "median_seconds": medians,
            "ratio_pooled_to_stock": medians["pooled"] / medians["stock"],
            "handover_median_seconds": status["handover_seconds"]["median"],
            "load_average": os.getloadavg()}


def _table(title: str, results: dict[str, Any]) -> None:
    print(title)
    for name, median in results["median_seconds"].items():
        spread = ", ".join(f"{t * 1000:.0f}" for t in sorted(results["seconds"][name]))
        print(f"  {name:<17} {median * 1000:8.1f} ms   (all, ms: {spread})")
    print(f"  pooled / stock    {results['ratio_pooled_to_stock']:.2f}x   (goal <= 0.5x)")
    if "ratio_no_pool_to_stock" in results:
        print(f"  no pool / stock   {results['ratio_no_pool_to_stock']:.2f}x")
    print(f"  hand-over itself  {results['handover_median_seconds'] * 1000:.1f} ms median")
    if "waiting_kernel_rss_mib" in results:
        print(f"  waiting kernel    {results['waiting_kernel_rss_mib']:.0f} MiB RSS (median)")
    print("  load average      " + " ".join(f"{x:.2f}" for x in results["load_average"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="starts per kind (default 7)")
    parser.add_argument("--no-server", action="store_true",
                        help="skip the part through a real jupyter server")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    results = asyncio.run(run(args.repeat))
    _table(f"kernel manager start_kernel -> first execute_reply (1+1), median of "
           f"{args.repeat}:", results)
    if not args.no_server:
        results["server"] = asyncio.run(run_server(args.repeat))
        _table(f"jupyter server: POST api/sessions -> WebSocket execute_reply (1+1), median "
               f"of {args.repeat}:", results["server"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
