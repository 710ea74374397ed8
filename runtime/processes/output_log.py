"""A process's output log: every chunk it wrote to stdout/stderr, in order, from the start,
so the commands API can stream it and re-attach from any offset after a stream closed.

Bounded by the per-process cap (``Limits.process_log_bytes``): past it one notice chunk is
kept and the rest dropped (the process itself goes on; its pipes are separate, see
``pipes.py``). Readers wait on a condition, woken by each new chunk and by the end.
"""

from __future__ import annotations

import threading
import time

from .info import OutputChunk


class OutputLog:
    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._chunks: list[OutputChunk] = []
        self._bytes = 0
        self._dropped = 0
        self._ended = False
        self._cond = threading.Condition()

    def append(self, stream: str, data: bytes) -> None:
        if not data:
            return
        with self._cond:
            if self._dropped:
                self._dropped += len(data)
                return
            if self._bytes + len(data) > self._cap:
                keep = self._cap - self._bytes
                if keep > 0:
                    self._add(stream, data[:keep])
                self._dropped = len(data) - max(keep, 0)
                notice = (f"\n[the process's output log is full ({self._cap >> 20} MiB, "
                          "Limits.process_log_bytes): later output is not kept]\n")
                self._add("stderr", notice.encode())
                return
            self._add(stream, data)

    def _add(self, stream: str, data: bytes) -> None:
        self._chunks.append(OutputChunk(stream, bytes(data), len(self._chunks)))
        self._bytes += len(data)
        self._cond.notify_all()

    def end(self) -> None:
        """The process ended: readers waiting for more return what there is."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def read(self, offset: int = 0, timeout: float | None = None) -> list[OutputChunk]:
        """Chunks from index ``offset`` on; waits up to ``timeout`` for one when there is
        none yet and the process runs (None: until there is one or it ends)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while len(self._chunks) <= offset and not self._ended:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._chunks[max(offset, 0):]

    def text(self, stream: str | None = None) -> bytes:
        """Everything kept, of one stream or both (tests and status)."""
        with self._cond:
            return b"".join(c.data for c in self._chunks if stream in (None, c.stream))
