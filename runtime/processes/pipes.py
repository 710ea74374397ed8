"""A bounded byte pipe between two host threads (a process's stdin, or its stdout/stderr read
by the guest that started it).

It behaves as a POSIX pipe where that matters to the programs on either side: a writer blocks
while the pipe is full (so a chatty child cannot fill the host's memory while its reader is
slow), a reader blocks until there is data or the write end is closed (then ``b""``), and a
write after the read end closed raises ``BrokenPipeError``. Every wait is in short slices and
checks a ``stop`` callable, so an interrupt or a kill never leaves a thread stuck here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: How long one wait lasts before the ``stop`` callable is asked again.
WAIT_SLICE = 0.01
#: Bytes a process's stdout/stderr pipe holds before its writer waits for the reader.
PIPE_CAPACITY = 1 << 20

Stop = Callable[[], bool]


def _never() -> bool:
    return False


class PipeStopped(InterruptedError):
    """A blocking pipe operation gave up because ``stop()`` said so (interrupt, kill)."""


class HostPipe:
    """One direction of bytes. ``capacity`` None: never blocks the writer (the commands API's
    stdin, bounded by its caller)."""

    def __init__(self, capacity: int | None = PIPE_CAPACITY) -> None:
        self._capacity = capacity
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self.write_closed = False
        self.read_closed = False

    def __len__(self) -> int:
        return len(self._buffer)

    def write(self, data: bytes, stop: Stop = _never) -> None:
        """Append all of ``data``, waiting while the pipe is full. ``BrokenPipeError`` once
        the reader is gone or the write end was closed; ``PipeStopped`` when ``stop()``."""
        view = memoryview(data)
        with self._cond:
            while view.nbytes:
                if self.read_closed or self.write_closed:
                    raise BrokenPipeError("the reading end of the pipe is closed")
                room = (view.nbytes if self._capacity is None
                        else self._capacity - len(self._buffer))
                if room <= 0:
                    if stop():
                        raise PipeStopped("the write to the pipe was interrupted")
                    self._cond.wait(WAIT_SLICE)
                    continue
                self._buffer += view[:room]
                view = view[room:]
                self._cond.notify_all()

    def read(self, size: int, timeout: float | None = None, stop: Stop = _never) -> bytes | None:
        """Up to ``size`` bytes (at least one), ``b""`` at end of input, None when
        ``timeout`` passed first; ``PipeStopped`` when ``stop()`` said so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buffer and not self.write_closed:
                if stop():
                    raise PipeStopped("the read from the pipe was interrupted")
                wait = WAIT_SLICE
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    wait = min(wait, remaining)
                self._cond.wait(wait)
            data = bytes(self._buffer[:max(size, 1)])
            del self._buffer[:len(data)]
            self._cond.notify_all()
            return data

    def read_all(self) -> bytes:
        """Whatever is buffered now, without waiting."""
        with self._cond:
            data = bytes(self._buffer)
            self._buffer.clear()
            self._cond.notify_all()
            return data

    def close_write(self) -> None:
        """End of input for the reader (after what is buffered)."""
        with self._cond:
            self.write_closed = True
            self._cond.notify_all()

    def close_read(self) -> None:
        """The reader is gone: buffered data is dropped, the writer gets BrokenPipeError."""
        with self._cond:
            self.read_closed = True
            self._buffer.clear()
            self._cond.notify_all()
