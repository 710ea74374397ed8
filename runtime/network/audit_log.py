"""The broker's log lines, bounded: guest code that opens connections in a loop (refused or
not) must not flood the kernel's log, which the Jupyter server prints.

Each sandbox (the first argument of every broker line: its label) may log ``burst`` lines per
``window`` seconds; beyond that, lines are counted, and the first line after the window says
how many were left out. The audit in ``status()`` keeps its own bounded list either way.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    logged: int = 0
    dropped: int = 0


class AuditLog:
    """A logger whose ``info`` lines are rate-limited per sandbox label (``args[0]``)."""

    def __init__(self, logger: logging.Logger, burst: int = 50, window: float = 10.0) -> None:
        self.logger = logger
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._windows: dict[object, _Window] = {}

    def info(self, msg: str, *args: object) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        key = args[0] if args else None
        now = time.monotonic()
        with self._lock:
            current = self._windows.get(key)
            if current is None or now - current.started >= self.window:
                dropped = current.dropped if current is not None else 0
                current = self._windows[key] = _Window(now)
                if len(self._windows) > 1024:  # labels of closed sandboxes
                    self._windows = {key: current}
            else:
                dropped = 0
            allowed = current.logged < self.burst
            if allowed:
                current.logged += 1
            else:
                current.dropped += 1
        if dropped:
            self.logger.info("%s: %d more network log lines in the last %g s were left out "
                             "(status()['network'] keeps the last attempts)", key, dropped,
                             self.window)
        if allowed:
            self.logger.info(msg, *args)

    def debug(self, msg: str, *args: object) -> None:
        self.logger.debug(msg, *args)

    def warning(self, msg: str, *args: object) -> None:
        self.logger.warning(msg, *args)

    def exception(self, msg: str, *args: object) -> None:
        self.logger.exception(msg, *args)
