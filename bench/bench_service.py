"""Sandbox service benchmark, one run: create → exec ``1+1`` → delete through the REST API
and the Python client against a real ``jupyter server`` on this machine (p50/p99), and
sandboxes per GB of memory at idle (resident memory of the kernel processes).

    .venv/bin/python bench/bench_service.py [--rounds N] [--idle N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil
from jupyter_server_process import percentile, start_server, stop_server

from jupyter_sandbox.client import SandboxClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="create/exec/delete rounds")
    parser.add_argument("--idle", type=int, default=5, help="idle sandboxes for memory per GB")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="jsb-bench-", dir="/tmp"))
    process, url, token = start_server(base, "--SandboxExtensionApp.max_sandboxes=200",
                                       ready_timeout=60)
    try:
        with SandboxClient(url, token) as client:
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                sandbox = client.create_sandbox()
                sandbox.exec("1+1").raise_for_status()
                sandbox.delete()
                times.append(time.perf_counter() - started)
            idle = [client.create_sandbox() for _ in range(args.idle)]
            for sandbox in idle:
                sandbox.exec("1+1").raise_for_status()
            kernels = [child for child in psutil.Process(process.pid).children(recursive=True)
                       if "jupyter_sandbox.kernel" in " ".join(child.cmdline())]
            rss = [kernel.memory_info().rss for kernel in kernels]
            for sandbox in idle:
                sandbox.delete()
    finally:
        stop_server(process)
        shutil.rmtree(base, ignore_errors=True)
    per_sandbox = statistics.median(rss) if rss else float("nan")
    print(f"{'metric':<52}{'value':>12}")
    print(f"{'create -> exec 1+1 -> delete, p50 (s)':<52}{statistics.median(times):>12.3f}")
    print(f"{'create -> exec 1+1 -> delete, p99 (s)':<52}{percentile(times, 0.99):>12.3f}")
    print(f"{'idle sandbox kernel RSS, median (MiB)':<52}{per_sandbox / (1 << 20):>12.1f}")
    print(f"{'idle sandboxes per GB of memory':<52}{(1 << 30) / per_sandbox:>12.1f}")


if __name__ == "__main__":
    main()
