"""Snapshot benchmark, one run: a session with numpy, pandas, a 1000×1000 array and a
100k-row DataFrame. Prints medians of snapshot time and size, restore time, fork of 10
sandboxes and sandbox start from the base image; next to them, the native kernel's way to save
a namespace, ``dill.dump_session``/``load_session``, on the same data (when dill is installed).

    .venv/bin/python bench/bench_snapshots.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap
import time

from jupyter_sandbox.runtime.sandbox import Sandbox

SESSION = """
import numpy as np, pandas as pd
array = np.random.default_rng(0).random((1000, 1000))
frame = pd.DataFrame({"a": np.arange(100_000), "b": np.random.default_rng(1).random(100_000)})
"""

DILL = textwrap.dedent("""
    import builtins, json, os, statistics, tempfile, time
    import dill
    {session}
    path = tempfile.mktemp(suffix=".pkl")
    # load_session replaces __main__'s globals: keep the timings outside them.
    builtins.timings = {{"dump": [], "load": []}}
    for _ in range({repeat}):
        started = time.perf_counter(); dill.dump_session(path)
        builtins.timings["dump"].append(time.perf_counter() - started)
        started = time.perf_counter(); dill.load_session(path)
        builtins.timings["load"].append(time.perf_counter() - started)
    print(json.dumps({{"dump": statistics.median(builtins.timings["dump"]),
                      "load": statistics.median(builtins.timings["load"]),
                      "size": os.path.getsize(path)}}))
    os.unlink(path)
""")


def _median_time(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _dill(repeat: int) -> dict[str, float] | None:
    code = DILL.format(session=SESSION, repeat=repeat)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"(dill comparison skipped: {done.stderr.strip().splitlines()[-1:]})")
        return None
    import json

    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    start = _median_time(lambda: Sandbox().close(), args.repeat)
    with Sandbox() as sandbox:
        sandbox.execute(SESSION)
        data = sandbox.snapshot()
        save = _median_time(sandbox.snapshot, args.repeat)
        restore = _median_time(lambda: sandbox.restore(data), args.repeat)

        def fork_ten() -> None:
            for fork in sandbox.fork(10):
                fork.close()

        fork = _median_time(fork_ten, max(1, args.repeat // 2))
    dill = _dill(args.repeat)
    print(f"{'metric (median)':<44}{'sandbox':>12}{'dill (native)':>16}")
    print(f"{'sandbox start from the base image (ms)':<44}{start * 1000:>12.1f}{'':>16}")
    print(f"{'snapshot time (ms)':<44}{save * 1000:>12.1f}"
          f"{(dill['dump'] * 1000 if dill else float('nan')):>16.1f}")
    print(f"{'snapshot size (MB)':<44}{len(data) / 1e6:>12.1f}"
          f"{(dill['size'] / 1e6 if dill else float('nan')):>16.1f}")
    print(f"{'restore time (ms)':<44}{restore * 1000:>12.1f}"
          f"{(dill['load'] * 1000 if dill else float('nan')):>16.1f}")
    print(f"{'fork of 10 sandboxes (s)':<44}{fork:>12.2f}{'':>16}")


if __name__ == "__main__":
    main()
