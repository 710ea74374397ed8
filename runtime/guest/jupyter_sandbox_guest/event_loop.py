"""An asyncio event loop for a guest without sockets or threads.

asyncio's default loop opens a self-pipe with ``socket.socketpair()``, which WASI lacks, so
``asyncio.new_event_loop()``, ``asyncio.run()`` and IPython's top-level ``await`` all fail. No
other thread or signal handler can wake the loop here, so it needs no self-pipe: when it has
only timers to wait for it simply sleeps until the next one is due. There are no threads either,
so the default executor runs its work at once, in the loop's own thread.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import selectors
import time
from collections.abc import Callable
from typing import Any, TypeVar, TypeVarTuple

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class EventLoopDeadlockError(RuntimeError):
    """The loop waits with no timer and no file to watch: nothing could ever wake it."""

    def __init__(self) -> None:
        super().__init__(
            "the event loop is waiting for something that can never happen: it has no timers "
            "and no files to watch, and inside the sandbox no thread, socket or subprocess can "
            "wake it. Check for a Future or Event that nothing will complete.")


class SleepingSelector(selectors.SelectSelector):
    """A selector that sleeps (with ``time.sleep``, so pending output is flushed and the host
    can interrupt the wait) when no file is registered, and uses ``select()`` otherwise."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.get_map():
            return super().select(timeout)
        if timeout is None:
            raise EventLoopDeadlockError()
        if timeout > 0:
            time.sleep(timeout)
        return []


class SandboxEventLoop(asyncio.SelectorEventLoop):
    """``SelectorEventLoop`` without the self-pipe (there is no one to write to it)."""

    def __init__(self) -> None:
        super().__init__(SleepingSelector())

    def _make_self_pipe(self) -> None:
        self._ssock = self._csock = None
        self._internal_fds = 0

    def _close_self_pipe(self) -> None:
        pass

    def _write_to_self(self) -> None:
        pass

    def _process_self_data(self, data: bytes) -> None:
        pass

    def run_in_executor(self, executor: Any, func: Callable[[*_Ts], _T],
                        *args: *_Ts) -> asyncio.Future[_T]:
        """Without an explicit executor, call ``func`` at once (the default thread pool cannot
        start threads here), so ``asyncio.to_thread`` works, though it blocks the loop."""
        if executor is not None:
            return super().run_in_executor(executor, func, *args)
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the future
            future.set_exception(exc)
        return future


class SandboxEventLoopPolicy(asyncio.events._BaseDefaultEventLoopPolicy):  # type: ignore[name-defined]
    _loop_factory = SandboxEventLoop


def install() -> None:
    """Make ``asyncio.new_event_loop()``/``asyncio.run()``/``asyncio.EventLoop`` use the
    sandbox loop."""
    set_policy: Any = getattr(asyncio.events, "_set_event_loop_policy", None)
    if set_policy is None:  # Python before 3.14: the public setter is not deprecated there
        set_policy = asyncio.set_event_loop_policy
    set_policy(SandboxEventLoopPolicy())
    asyncio.EventLoop = SandboxEventLoop  # type: ignore[attr-defined]


__all__ = ["EventLoopDeadlockError", "SandboxEventLoop", "install"]
