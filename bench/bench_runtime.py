"""Benchmarks of the sandbox runtime: one run prints medians, goals and ratios.

    .venv/bin/python bench/bench_runtime.py [--quick] [--json FILE]

Measures, from a warm compiled-module cache (run ``jupyter-sandbox warmup`` first):

* sandbox start to the first ``1+1`` result, in a new process and in a warm one;
* ``Sandbox.execute("1+1")`` round trip, and a raw ``turn`` of the guest ABI without the shim;
* interrupt latency: ``Sandbox.interrupt()`` to ``execute`` returning ``KeyboardInterrupt``,
  in a pure-Python loop and in ``time.sleep``;
* ``import numpy, pandas`` under our WASI against wasmtime's ``Linker.define_wasi()``: the same
  compiled module, a bare instance each (no shim), one turn timed;
* a pure-Python loop in the guest against native CPython on the host;
* resident memory of one idle sandbox with numpy and pandas imported, above the process's
  baseline, measured in a fresh subprocess with psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import wasmtime

from jupyter_sandbox.runtime import module_cache
from jupyter_sandbox.runtime.artifacts import STDLIB_GUEST_PATH, guest_artifacts
from jupyter_sandbox.runtime.guest_instance import GuestInstance
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.vfs import FileMount, VirtualFS
from jupyter_sandbox.runtime.wasi import WasiState

MiB = 1 << 20
_I32 = wasmtime.ValType.i32()

LOOP_SOURCE = """\
def _bench_loop(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
"""
LOOP_N = 1_000_000


@dataclass
class Result:
    name: str
    median: float
    unit: str
    samples: int
    goal: str = ""
    note: str = ""


RESULTS: list[Result] = []


def record(name: str, values: list[float], unit: str, goal: str = "", note: str = "") -> float:
    value = statistics.median(values)
    RESULTS.append(Result(name, value, unit, len(values), goal, note))
    shown = f"{value:.3f}" if value < 10 else f"{value:.1f}"
    print(f"  {name}: {shown} {unit} (median of {len(values)})"
          + (f"  goal {goal}" if goal else "") + (f"  {note}" if note else ""), flush=True)
    return value


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


# -- bare guests: the ABI without our shim ------------------------------------------------
class OurWasiGuest:
    """A bare instance on our WASI and VFS: only the stdlib zip mounted."""

    def __init__(self) -> None:
        vfs = VirtualFS([FileMount(STDLIB_GUEST_PATH, guest_artifacts().stdlib_zip)])
        self.output = bytearray()
        state = WasiState(vfs, ["python"], {}, lambda _fd, data: self.output.extend(data))
        self.instance = GuestInstance(state, 2 << 30, lambda _request: b"")

    def turn(self, source: str) -> int:
        return self.instance.turn(source)

    def close(self) -> None:
        self.instance.close()


class DefineWasiGuest:
    """The same compiled module on wasmtime's own WASI, one preopen ``/`` over a folder that
    holds the stdlib zip at its guest path; ``host.call`` is a stub that always fails."""

    def __init__(self, root: Path) -> None:
        engine = module_cache.engine()
        self.store = wasmtime.Store(engine)
        self.store.set_limits(memory_size=2 << 30)
        self.store.set_epoch_deadline(1 << 40)  # no epoch callback here: never reach it
        config = wasmtime.WasiConfig()
        config.argv = ["python"]
        config.preopen_dir(str(root), "/")
        config.stdout_file = os.devnull
        config.stderr_file = os.devnull
        self.store.set_wasi(config)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        linker.define_func("host", "call", wasmtime.FuncType([_I32] * 4, [_I32]),
                           lambda *_args: -1)
        exports = linker.instantiate(self.store, module_cache.guest_module()).exports(self.store)
        self.memory: wasmtime.Memory = exports["memory"]  # type: ignore[assignment]
        self._turn: wasmtime.Func = exports["turn"]  # type: ignore[assignment]
        self._alloc: wasmtime.Func = exports["host_alloc"]  # type: ignore[assignment]

    def turn(self, source: str) -> int:
        data = source.encode()
        address = self._alloc(self.store, len(data)) & 0xFFFFFFFF
        self.memory.write(self.store, data, address)
        return int(self._turn(self.store, address, len(data)))

    def close(self) -> None:
        self.store.close()


@contextmanager
def define_wasi_root() -> Iterator[Path]:
    """A host folder laid out as the guest expects: ``usr/local/lib/python315.zip``."""
    with tempfile.TemporaryDirectory(prefix="bench-define-wasi-") as tmp:
        root = Path(tmp)
        target = root / STDLIB_GUEST_PATH.lstrip("/")
        target.parent.mkdir(parents=True)
        (root / "tmp").mkdir()
        source = guest_artifacts().stdlib_zip
        try:
            os.link(source, target)
        except OSError:
            target.write_bytes(source.read_bytes())
        yield root


# -- the measurements ---------------------------------------------------------------------
def collect_result(messages: list[dict]) -> list[str]:
    return [m["content"]["data"]["text/plain"] for m in messages
            if m["msg_type"] == "execute_result"]


def stdout_text(messages: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in list(messages)
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")


def _start_to_first_result(**kwargs: object) -> tuple[float, str]:
    start = time.perf_counter()
    with Sandbox(**kwargs) as sandbox:  # type: ignore[arg-type]
        messages: list[dict] = []
        sandbox.execute("1+1", messages.append)
        elapsed = ms_since(start)
        if collect_result(messages) != ["2"]:
            raise RuntimeError(f"1+1 gave {messages!r}")
        return elapsed, str(getattr(sandbox, "started_from", "boot"))


def bench_start(repeat: int) -> None:
    print("sandbox start (warm cache) to first 1+1 result", flush=True)
    _start_to_first_result()  # builds the machine's base image if there is none yet
    runs = [_start_to_first_result() for _ in range(repeat)]
    origins = sorted({origin for _, origin in runs})
    record("start to first 1+1, warm process", [ms for ms, _ in runs], "ms",
           note=f"started from: {', '.join(origins)}")
    record("start to first 1+1, full boot (use_base_image=False)",
           [_start_to_first_result(use_base_image=False)[0] for _ in range(max(2, repeat // 2))],
           "ms")


def bench_execute(sandbox: Sandbox, repeat: int) -> None:
    print("1+1 round trips", flush=True)
    for _ in range(20):
        sandbox.execute("1+1")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sandbox.execute("1+1")
        times.append(ms_since(start))
    record("Sandbox.execute('1+1') round trip", times, "ms", "<= 1 ms")

    with define_wasi_root() as root:
        guests = (("our WASI", OurWasiGuest), ("define_wasi", lambda: DefineWasiGuest(root)))
        for label, make in guests:
            guest = make()
            try:
                for _ in range(20):
                    guest.turn("1+1")
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    guest.turn("1+1")
                    times.append(ms_since(start))
                record(f"raw turn '1+1', no shim ({label})", times, "ms")
            finally:
                guest.close()


def _interrupt_once(sandbox: Sandbox, code: str, caught: bool = False) -> float:
    messages: list[dict] = []
    done: dict[str, object] = {}

    def run() -> None:
        done["reply"] = sandbox.execute(code, messages.append)
        done["at"] = time.perf_counter()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while "go" not in stdout_text(messages):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the cell never started: {messages!r}")
        time.sleep(0.002)
    time.sleep(0.1)  # well inside the loop or the sleep
    start = time.perf_counter()
    sandbox.interrupt()
    thread.join(30)
    if thread.is_alive():
        raise RuntimeError("interrupt did not stop the cell within 30 s")
    reply = done["reply"]
    expected = ("ok", "") if caught else ("error", "KeyboardInterrupt")
    if (getattr(reply, "status", ""), getattr(reply, "ename", "")) != expected:
        raise RuntimeError(f"expected {expected}, got {reply!r}")
    return (float(done["at"]) - start) * 1000  # type: ignore[arg-type]


def bench_interrupt(sandbox: Sandbox, repeat: int) -> None:
    print("interrupt latency (interrupt() to execute returning KeyboardInterrupt)", flush=True)
    loop = "print('go', flush=True)\nwhile True:\n    pass"
    sleep = "import time\nprint('go', flush=True)\ntime.sleep(600)"
    # The session's first traceback imports and warms IPython's traceback machinery.
    record("first interrupt of a session, pure-Python loop", [_interrupt_once(sandbox, loop)],
           "ms")
    record("interrupt, pure-Python loop", [_interrupt_once(sandbox, loop) for _ in range(repeat)],
           "ms")
    record("interrupt, during time.sleep", [_interrupt_once(sandbox, sleep) for _ in range(repeat)],
           "ms")
    caught = ("print('go', flush=True)\ntry:\n    while True:\n        pass\n"
              "except KeyboardInterrupt:\n    pass")
    record("interrupt, loop that catches it (no traceback)",
           [_interrupt_once(sandbox, caught, caught=True) for _ in range(repeat)], "ms",
           note="the rest of the loop figure is IPython rendering the traceback")
    reply = sandbox.execute("1+1")
    if reply.status != "ok":
        raise RuntimeError("the sandbox did not recover after interrupts")


def bench_imports(repeat: int) -> None:
    print("import numpy, pandas: our WASI vs wasmtime define_wasi (bare instances)", flush=True)
    ours, theirs = [], []
    with define_wasi_root() as root:
        for _ in range(repeat):
            for times, make in ((ours, OurWasiGuest), (theirs, lambda: DefineWasiGuest(root))):
                guest = make()
                try:
                    start = time.perf_counter()
                    status = guest.turn("import numpy, pandas")
                    times.append(ms_since(start))
                    if status != 0:
                        raise RuntimeError(f"import numpy, pandas failed (status {status}) "
                                           f"under {type(guest).__name__}")
                finally:
                    guest.close()
    a = record("import numpy, pandas (our WASI)", ours, "ms")
    b = record("import numpy, pandas (define_wasi)", theirs, "ms")
    record("ratio our WASI / define_wasi", [a / b], "x", "<= 1.2")


def bench_loop(sandbox: Sandbox, repeat: int) -> None:
    print(f"pure-Python loop of {LOOP_N:,} iterations: guest vs native host CPython", flush=True)
    sandbox.execute(LOOP_SOURCE)
    guest = []
    for _ in range(repeat):
        messages: list[dict] = []
        reply = sandbox.execute("import time as _t\n_s = _t.perf_counter()\n"
                                f"_bench_loop({LOOP_N})\nprint(_t.perf_counter() - _s)",
                                messages.append)
        if reply.status != "ok":
            raise RuntimeError(f"loop failed: {reply.traceback}")
        guest.append(float(stdout_text(messages).strip()) * 1000)
    namespace: dict[str, object] = {}
    exec(LOOP_SOURCE, namespace)  # our own constant source
    loop: Callable[[int], int] = namespace["_bench_loop"]  # type: ignore[assignment]
    native = []
    for _ in range(repeat):
        start = time.perf_counter()
        loop(LOOP_N)
        native.append(ms_since(start))
    a = record("loop in the guest (CPython 3.15 wasm)", guest, "ms")
    b = record(f"loop native (CPython {sys.version.split()[0]})", native, "ms")
    record("ratio guest / native", [a / b], "x")


MEMORY_PROBE = r"""
import gc, json, time, psutil
proc = psutil.Process()
from jupyter_sandbox.runtime import module_cache
from jupyter_sandbox.runtime import sandbox as sandbox_module
from jupyter_sandbox.runtime.sandbox import Sandbox
# An idle sandbox keeps a recovery point (changed pages) taken this long after a cell.
settle = getattr(sandbox_module, "RECOVERY_IDLE_SECONDS", 0) + 1.5
gc.collect(); time.sleep(0.2)
baseline = proc.memory_info().rss
start = time.perf_counter()
first = Sandbox()
first.execute("1+1")
start_ms = (time.perf_counter() - start) * 1000
reply = first.execute("import numpy, pandas")
assert reply.status == "ok", reply
gc.collect(); time.sleep(0.2)
busy = proc.memory_info().rss
time.sleep(settle)
one = proc.memory_info().rss
linear = first.usage().memory_bytes
second = Sandbox()
reply = second.execute("import numpy, pandas")
assert reply.status == "ok", reply
gc.collect(); time.sleep(settle)
two = proc.memory_info().rss
first.close(); second.close()
print(json.dumps({"baseline": baseline, "busy": busy, "one": one, "two": two, "linear": linear,
                  "start_ms": start_ms}))
"""


def bench_memory(repeat: int) -> None:
    print("new process: first sandbox start, and resident memory (psutil, fresh subprocess)",
          flush=True)
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE], check=True,
                             capture_output=True, text=True, timeout=300)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    record("start to first 1+1, new process (module from disk cache)",
           [r["start_ms"] for r in runs], "ms")
    record("RSS of one sandbox right after importing numpy+pandas, above baseline",
           [(r["busy"] - r["baseline"]) / MiB for r in runs], "MiB")
    record("RSS of one idle sandbox with numpy+pandas (recovery point kept), above baseline",
           [(r["one"] - r["baseline"]) / MiB for r in runs], "MiB", "<= 120 MiB")
    record("RSS added by a second such sandbox", [(r["two"] - r["one"]) / MiB for r in runs],
           "MiB")
    record("guest linear memory with numpy+pandas", [r["linear"] / MiB for r in runs], "MiB")
    record("process baseline RSS (Python + wasmtime, no sandbox)",
           [r["baseline"] / MiB for r in runs], "MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    few, many = (2, 100) if args.quick else (5, 500)

    t0 = time.perf_counter()
    module_cache.guest_module(progress=lambda line: print(f"  {line}", flush=True))
    print(f"compiled module ready in {ms_since(t0):.0f} ms "
          f"(cache: {module_cache.cache_dir()})", flush=True)

    bench_start(few)
    bench_memory(max(1, few // 2 + 1))
    with Sandbox() as sandbox:
        bench_execute(sandbox, many)
        bench_interrupt(sandbox, few)
        bench_loop(sandbox, max(3, few))
    bench_imports(max(2, few // 2 + 1))

    print("\n| measurement | median | goal |\n| --- | ---: | --- |")
    for r in RESULTS:
        shown = f"{r.median:.3f}" if r.median < 10 else f"{r.median:.0f}"
        print(f"| {r.name} | {shown} {r.unit} | {r.goal} |")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in RESULTS], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
