"""The limits of one ``node`` run and the guard that enforces them.

Two ways to stop JavaScript, soft first: QuickJS polls ``should_interrupt()`` every few thousand
operations (``env.host_interrupt``) and then throws an uncatchable "interrupted" error, so the
run ends cleanly with its output flushed. Should the guest not poll (a long call inside the
engine), a watcher thread arms a hard stop ``HARD_STOP_GRACE`` seconds later and ticks the
engine's epoch: the next epoch check traps the instance (runtime/wasmtime_private.py's
``EpochCallback``), which ends only this run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import Enum

from .. import module_cache

#: How long the soft interrupt has before the hard stop is armed.
HARD_STOP_GRACE = 2.0
#: How often the watcher looks at the cancel event (it has no way to be woken by it).
WATCH_EVERY = 0.05


@dataclass(frozen=True)
class JavaScriptLimits:
    """``memory_bytes``: the cap on the engine's linear memory (the JS heap lives there);
    ``time_seconds``: wall-clock limit of the whole run, None for none."""

    memory_bytes: int = 256 << 20
    time_seconds: float | None = None


class StopReason(Enum):
    CANCELLED = "cancelled"
    TIME_LIMIT = "time limit"
    EXITED = "exited"


class RunGuard:
    """Decides, from any thread, whether the run must stop; owns the hard-stop watcher."""

    def __init__(self, limits: JavaScriptLimits, cancel: threading.Event) -> None:
        self._cancel = cancel
        self._deadline = (time.monotonic() + limits.time_seconds
                          if limits.time_seconds is not None else None)
        self.reason: StopReason | None = None
        #: The status ``process.exit`` asked for (when ``reason`` is EXITED).
        self.exit_code = 0
        self._hard_stop_at: float | None = None
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="node-run-guard", daemon=True)

    def __enter__(self) -> RunGuard:
        self._watcher.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._watcher.join()

    def stop_reason(self) -> StopReason | None:
        """Why the run must stop now, or None. Cheap: QuickJS calls it in hot loops."""
        if self.reason is None:
            if self._cancel.is_set():
                self.reason = StopReason.CANCELLED
            elif self._deadline is not None and time.monotonic() >= self._deadline:
                self.reason = StopReason.TIME_LIMIT
        return self.reason

    def should_interrupt(self) -> bool:
        return self.stop_reason() is not None

    def mark_exited(self, code: int) -> None:
        """``process.exit(code)`` ran: every later host call and poll stops the run."""
        if self.reason is None:
            self.reason = StopReason.EXITED
            self.exit_code = code

    def sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds`` (timers); False when the run must stop instead."""
        end = time.monotonic() + max(0.0, seconds)
        if self._deadline is not None:
            end = min(end, self._deadline)
        while self.stop_reason() is None:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return self.stop_reason() is None
            self._cancel.wait(min(remaining, WATCH_EVERY))
        return False

    def hard_stop(self) -> str | None:
        """The epoch callback's verdict: a message traps the guest, None lets it go on."""
        at = self._hard_stop_at
        if at is not None and time.monotonic() >= at:
            why = self.reason.value if self.reason else "stop"
            return f"the JavaScript run was stopped hard ({why})"
        return None

    def _watch(self) -> None:
        while not self._done.wait(WATCH_EVERY):
            if self.stop_reason() in (StopReason.CANCELLED, StopReason.TIME_LIMIT):
                break
        else:
            return
        self._hard_stop_at = time.monotonic() + HARD_STOP_GRACE
        while not self._done.wait(WATCH_EVERY):
            if time.monotonic() >= self._hard_stop_at:
                module_cache.engine().increment_epoch()
