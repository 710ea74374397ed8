"""Process benchmark (issue 15), one run: a child process's start-to-exit time inside the
sandbox next to a native CPython process on the host.

    .venv/bin/python bench/bench_processes.py [--repeat 40] [--json OUT]

Measured, in turns so that the machine's load hits every kind alike:

* ``subprocess.run([sys.executable, '-c', 'pass'])`` inside a sandbox, timed in the guest with
  ``time.perf_counter`` around the call (a process is a guest instance restored from the
  machine's base image, on its own host thread);
* ``!python -c pass`` through a real Sandboxed Python kernel (jupyter_client
  ``execute_interactive`` round trip of the cell), next to an empty cell's round trip in the
  same kernel (the cell's own cost) and to the same ``!python -c pass`` cell in the stock
  ``python3`` kernel (a real host process on a pseudo-terminal);
* natively on the host: ``subprocess.run(['python3', '-c', 'pass'])`` (``python3`` as found
  on PATH, which may be a wrapper such as a pyenv shim) and ``subprocess.run([sys.executable,
  '-c', 'pass'])`` (the interpreter itself; the stricter reference);
* ``node -e 0``: ``subprocess.run(['node', '-e', '0'])`` in the sandbox (QuickJS compiled to
  WebAssembly) and natively when the host has node.

Runs are spaced (``SPACED`` seconds apart, not timed: the usual notebook case, where the process
table has its spare instance ready) unless named "back to back" (each start then restores
an instance on the spot). Medians (and p90) of ``--repeat`` runs each, ratios sandbox/native,
the load average.
The goal: the sandbox's child starts faster than a native CPython process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox

#: Seconds between two runs (not timed): a notebook runs a command now and then, and the
#: process table prepares its next instance (the spare) in between. "back to back" runs
#: measure the other case, where each start restores an instance on the spot.
SPACED = 0.25

#: Runs in the guest: ``count`` timed runs of ``argv``, printed as JSON (seconds).
GUEST_TIMING = """\
import json, subprocess, sys, time
def _timed(argv, count, pause):
    times = []
    for _ in range(count):
        time.sleep(pause)  # not timed: lets the process table prepare its spare instance
        started = time.perf_counter()
        done = subprocess.run(argv)
        times.append(time.perf_counter() - started)
        assert done.returncode == 0, done
    return times
print(json.dumps(_timed({argv}, {count}, {pause})))
"""


def _native(argv: list[str], count: int, pause: float = 0.0) -> list[float]:
    times = []
    for _ in range(count):
        time.sleep(pause)  # as in the sandbox's runs, so both see the machine alike
        started = time.perf_counter()
        subprocess.run(argv, check=True)
        times.append(time.perf_counter() - started)
    return times


def _in_sandbox(sandbox: Sandbox, argv_source: str, count: int,
                pause: float = 0.0) -> list[float]:
    messages: list[dict[str, Any]] = []
    reply = sandbox.execute(GUEST_TIMING.format(argv=argv_source, count=count, pause=pause),
                            messages.append)
    if reply.status != "ok":
        raise RuntimeError("\n".join(reply.traceback))
    text = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
    return [float(t) for t in json.loads(text.strip().splitlines()[-1])]


def _cell_round_trips(kc: Any, code: str, count: int, pause: float = 0.0) -> list[float]:
    times = []
    for _ in range(count):
        time.sleep(pause)  # not timed, as in _timed
        started = time.perf_counter()
        reply = kc.execute_interactive(code, timeout=120, output_hook=lambda _msg: None)
        times.append(time.perf_counter() - started)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code!r}: {reply['content']}")
    return times


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_ms": statistics.median(ordered) * 1000,
            "p90_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))] * 1000,
            "runs": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="runs of each measurement")
    parser.add_argument("--turns", type=int, default=4, help="turns the runs are split into")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    per_turn = max(1, args.repeat // args.turns)
    load_before = os.getloadavg()
    node = shutil.which("node")
    python3 = shutil.which("python3")
    series: dict[str, list[float]] = {}

    def add(name: str, values: list[float]) -> None:
        series.setdefault(name, []).extend(values)

    folder = Path(tempfile.mkdtemp(prefix="bench-processes-"))
    sandbox = Sandbox(SandboxConfig(state_dir=folder / "state"))
    kernels = [start_new_kernel(kernel_name=name, cwd=str(folder))
               for name in ("sandboxed-python", "python3")]
    try:
        (sandbox_km, sandbox_kc), (stock_km, stock_kc) = kernels
        # warm: the first process of a sandbox also prepares its spare instance
        _in_sandbox(sandbox, "[sys.executable, '-c', 'pass']", 2)
        _cell_round_trips(sandbox_kc, "!python -c pass", 2)
        _cell_round_trips(stock_kc, "!python -c pass", 2)
        for _ in range(args.turns):
            add("sandbox subprocess.run([sys.executable, '-c', 'pass'])",
                _in_sandbox(sandbox, "[sys.executable, '-c', 'pass']", per_turn, SPACED))
            add("sandbox subprocess.run([sys.executable, '-c', 'pass']), back to back",
                _in_sandbox(sandbox, "[sys.executable, '-c', 'pass']", per_turn))
            add("native subprocess.run([sys.executable, '-c', 'pass'])",
                _native([sys.executable, "-c", "pass"], per_turn, SPACED))
            if python3:
                add("native subprocess.run(['python3', '-c', 'pass'])",
                    _native(["python3", "-c", "pass"], per_turn, SPACED))
            add("sandbox kernel: !python -c pass (cell round trip)",
                _cell_round_trips(sandbox_kc, "!python -c pass", per_turn, SPACED))
            add("sandbox kernel: !python -c pass (cell round trip), back to back",
                _cell_round_trips(sandbox_kc, "!python -c pass", per_turn))
            add("sandbox kernel: empty cell (round trip)",
                _cell_round_trips(sandbox_kc, "pass", per_turn, SPACED))
            add("stock python3 kernel: !python -c pass (cell round trip)",
                _cell_round_trips(stock_kc, "!python -c pass", per_turn, SPACED))
            add("stock python3 kernel: empty cell (round trip)",
                _cell_round_trips(stock_kc, "pass", per_turn, SPACED))
            add("sandbox subprocess.run(['node', '-e', '0'])",
                _in_sandbox(sandbox, "['node', '-e', '0']", per_turn, SPACED))
            if node:
                add("native subprocess.run(['node', '-e', '0'])",
                    _native([node, "-e", "0"], per_turn, SPACED))
    finally:
        for km, kc in kernels:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        sandbox.close()
        shutil.rmtree(folder, ignore_errors=True)

    results: dict[str, Any] = {name: _summary(values) for name, values in series.items()}

    def median(name: str) -> float | None:
        entry = results.get(name)
        return None if entry is None else float(entry["median_ms"])

    def ratio(ours: str, theirs: str) -> float | None:
        a, b = median(ours), median(theirs)
        return None if a is None or b is None or b == 0 else a / b

    sandbox_run = "sandbox subprocess.run([sys.executable, '-c', 'pass'])"
    ratios = {
        "sandbox child / native sys.executable": ratio(
            sandbox_run, "native subprocess.run([sys.executable, '-c', 'pass'])"),
        "sandbox child back to back / native sys.executable": ratio(
            f"{sandbox_run}, back to back",
            "native subprocess.run([sys.executable, '-c', 'pass'])"),
        "sandbox child / native python3 (PATH)": ratio(
            sandbox_run, "native subprocess.run(['python3', '-c', 'pass'])"),
        "!python cell: sandbox / stock kernel": ratio(
            "sandbox kernel: !python -c pass (cell round trip)",
            "stock python3 kernel: !python -c pass (cell round trip)"),
        "node -e 0: sandbox / native": ratio(
            "sandbox subprocess.run(['node', '-e', '0'])",
            "native subprocess.run(['node', '-e', '0'])"),
    }
    bang = median("sandbox kernel: !python -c pass (cell round trip)")
    empty = median("sandbox kernel: empty cell (round trip)")
    stock_bang = median("stock python3 kernel: !python -c pass (cell round trip)")
    stock_empty = median("stock python3 kernel: empty cell (round trip)")
    extra = {
        "sandbox !python beyond an empty cell (ms)": None if bang is None or empty is None
        else bang - empty,
        "stock !python beyond an empty cell (ms)": None if stock_bang is None
        or stock_empty is None else stock_bang - stock_empty,
    }
    load_after = os.getloadavg()
    width = max(len(name) for name in results)
    print(f"processes benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{per_turn * args.turns} runs each in {args.turns} turns; "
          f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    for name, entry in results.items():
        print(f"  {name:<{width}}  median {entry['median_ms']:8.1f} ms"
              f"   p90 {entry['p90_ms']:8.1f} ms")
    for name, value in {**extra, **ratios}.items():
        if value is not None:
            suffix = "x" if name in ratios else " ms"
            print(f"  {name:<{width}}  {value:8.2f}{suffix}")
    goal = ratios["sandbox child / native sys.executable"]
    if goal is not None:
        print(f"goal (sandbox child starts faster than native CPython): "
              f"{'met' if goal < 1 else 'missed'} ({goal:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps({
            "results": results, "ratios": ratios, "extra": extra,
            "load_average": {"before": load_before, "after": load_after},
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))


if __name__ == "__main__":
    main()
