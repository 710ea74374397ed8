"""Per-process time limits (``timeout=``): one thread per sandbox, started on first use,
sleeping until the nearest deadline and killing the process that passed it."""

from __future__ import annotations

import heapq
import logging
import threading
import time

from .process import Process

log = logging.getLogger("jupyter_sandbox.processes")


class Watchdog:
    def __init__(self, name: str) -> None:
        self._name = name
        self._heap: list[tuple[float, int, Process]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, process: Process, seconds: float) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (time.monotonic() + seconds, process.pid, process))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name,
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or not self._heap[0][2].running):
                    if self._heap:
                        heapq.heappop(self._heap)  # ended before its deadline
                        continue
                    self._cond.wait()
                if self._closed:
                    return
                due, _pid, process = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, 1.0))
                    continue
                heapq.heappop(self._heap)
            if process.running and process.timeout is not None:
                process.write("stderr", f"\n[process {process.pid} ({process.argv[0]}) ran "
                              f"past its time limit of {process.timeout:g} s and was "
                              "stopped]\n".encode())
                process.kill(f"process {process.pid} ran past its time limit of "
                             f"{process.timeout:g} s")
