"""The clock of a running cell: one long-lived thread per sandbox (starting a thread per cell
cost a fifth of a millisecond on every ``1+1``) that, while a cell runs,

* asks the guest to flush its output streams every ``flush_every`` seconds (the guest has no
  timer of its own), and
* enforces the cell's time limit: at the deadline ``on_deadline`` runs once (soft
  ``TimeoutError`` and arming of the hard stop); after that it keeps the epoch ticking so the
  hard stop fires even while the guest sleeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("jupyter_sandbox.cell_clock")


@dataclass
class _Run:
    tick: Callable[[], None]
    deadline: float | None
    on_deadline: Callable[[], None]
    after_deadline: Callable[[], None]
    expired: bool = False


class CellClock:
    """Start with ``run(...)`` when a cell starts, ``stop()`` when it ends; ``close()`` once."""

    def __init__(self, name: str, flush_every: float, after_deadline_every: float = 0.05) -> None:
        self._flush_every = flush_every
        self._after_deadline_every = after_deadline_every
        self._lock = threading.Condition()
        self._run: _Run | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def run(self, tick: Callable[[], None], deadline: float | None,
            on_deadline: Callable[[], None], after_deadline: Callable[[], None]) -> None:
        with self._lock:
            self._run = _Run(tick, deadline, on_deadline, after_deadline)
            self._lock.notify()

    def stop(self) -> None:
        with self._lock:
            self._run = None
            self._lock.notify()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._run = None
            self._lock.notify()
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            log.warning("the cell clock %s did not end within 5 s", self._thread.name)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while self._run is None and not self._closed:
                    self._lock.wait()
                current = self._run
                if self._closed or current is None:  # the wait above leaves only closed
                    return
                if current.expired:
                    wait = self._after_deadline_every
                elif current.deadline is None:
                    wait = self._flush_every
                else:
                    wait = min(self._flush_every, max(0.0, current.deadline - time.monotonic()))
                # Called at once, in this iteration: `current` is the one the loop just read.
                self._lock.wait_for(lambda: self._run is not current or self._closed,  # noqa: B023
                                    wait)
                if self._run is not current or self._closed:
                    continue
            # Outside the lock: these call into the sandbox, which may take a moment.
            if current.expired:
                current.after_deadline()
            elif current.deadline is not None and time.monotonic() >= current.deadline:
                current.expired = True
                current.on_deadline()
            else:
                current.tick()
