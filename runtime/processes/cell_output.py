"""What the notebook's processes write to an inherited stdout/stderr (``subprocess.run``
without capture, ``os.system``, ``!python x.py``), on its way to the cell.

A process writes from its own thread; the cell's output (``sandbox/output.py`` ``Operation``)
belongs to the sandbox's guest thread. So writes are queued here and moved into the cell on
the guest thread whenever the notebook makes a host call (each ``proc_*`` wait slice, every
stream flush of a running cell): output streams in as it is produced while the notebook waits
for its child, and counts against the cell's output cap there. The queue is bounded too (the
output cap): a background process writing while no cell runs loses what is past it, with a
notice.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from .process import Sink

if TYPE_CHECKING:
    from ..sandbox.output import Operation


class CellOutput:
    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._queue: deque[tuple[int, bytes]] = deque()
        self._bytes = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def sink(self, fd: int) -> Sink:
        def write(data: bytes) -> None:
            with self._lock:
                room = self._cap - self._bytes
                if len(data) > room:
                    self._dropped += len(data) - max(room, 0)
                    data = data[:max(room, 0)]
                if data:
                    self._queue.append((fd, bytes(data)))
                    self._bytes += len(data)

        return write

    def pending(self) -> bool:
        return bool(self._queue) or bool(self._dropped)

    def drain_into(self, cell: Operation | None) -> None:
        """Guest thread: hand what is queued to the running cell (none: it waits)."""
        if cell is None or not self.pending():
            return
        with self._lock:
            items, self._queue = list(self._queue), deque()
            self._bytes = 0
            dropped, self._dropped = self._dropped, 0
        for fd, data in items:
            cell.fd_write(fd, data)
        if dropped:
            cell.notify(f"[{dropped} bytes of output from the sandbox's processes were "
                        "dropped: more than the cell's output limit (Limits.output_bytes) "
                        "arrived before the cell could show it]")
