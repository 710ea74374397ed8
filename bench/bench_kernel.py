"""Kernel benchmark: sandboxed-python next to the stock python3 (ipykernel) kernel, one run.

Prints medians and the ratio ours/stock for: kernel start (process launch to the first
execute_reply), a blocking ``1+1`` round trip through jupyter_client, interrupt latency
(interrupt request to the KeyboardInterrupt reply), and resident memory of an idle kernel with
numpy and pandas imported.

    .venv/bin/python bench/bench_kernel.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import psutil
from jupyter_client.manager import start_new_kernel

KERNELS = ("sandboxed-python", "python3")


def _start(kernel: str):
    started = time.perf_counter()
    km, kc = start_new_kernel(kernel_name=kernel)
    kc.execute_interactive("1+1", timeout=120, output_hook=lambda _msg: None)
    return km, kc, time.perf_counter() - started


def _round_trips(kc, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        kc.execute_interactive("1+1", timeout=60, output_hook=lambda _msg: None)
        times.append(time.perf_counter() - started)
    return times


def _interrupt_latency(km, kc, count: int) -> list[float]:
    times = []
    for _ in range(count):
        msg_id = kc.execute("print('go', flush=True)\nwhile True:\n    pass")
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        started = time.perf_counter()
        km.interrupt_kernel()
        while True:
            reply = kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        times.append(time.perf_counter() - started)
        while True:  # drain to idle so the next request is not aborted
            msg = kc.get_iopub_msg(timeout=60)
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                break
    return times


def _rss_with_numpy_pandas(km, kc) -> float:
    kc.execute_interactive("import numpy, pandas", timeout=120)
    pid = km.provisioner.pid if km.provisioner else None
    return psutil.Process(pid).memory_info().rss / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="kernel starts per kernel")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for kernel in KERNELS:
        starts, trips, interrupts, rss = [], [], [], []
        for run in range(args.repeat):
            km, kc, start_time = _start(kernel)
            starts.append(start_time)
            if run == 0:
                trips = _round_trips(kc, 50)
                interrupts = _interrupt_latency(km, kc, 5)
                rss.append(_rss_with_numpy_pandas(km, kc))
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        results[kernel] = {
            "start_s": statistics.median(starts),
            "round_trip_ms": statistics.median(trips) * 1000,
            "interrupt_ms": statistics.median(interrupts) * 1000,
            "rss_mib": statistics.median(rss),
        }
    ours, stock = results["sandboxed-python"], results["python3"]
    print(f"{'metric (median)':<42}{'sandboxed':>12}{'stock':>12}{'ratio':>8}")
    for key, label in (("start_s", "kernel start to first reply (s)"),
                       ("round_trip_ms", "1+1 round trip via jupyter_client (ms)"),
                       ("interrupt_ms", "interrupt to KeyboardInterrupt reply (ms)"),
                       ("rss_mib", "RSS idle with numpy+pandas (MiB)")):
        print(f"{label:<42}{ours[key]:>12.2f}{stock[key]:>12.2f}{ours[key] / stock[key]:>8.2f}")


if __name__ == "__main__":
    main()
