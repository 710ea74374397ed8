"""What the notebook's processes write to an inherited stdout/stderr (``subprocess.run``
without capture, ``os.system``, ``!python x.py``, a background ``Popen``), on its way to the
cell.

Everything a process writes is first kept in its own log (``Process.log``, capped at
``Limits.process_log_bytes`` with a notice). What it writes to an inherited stream *while a
cell runs* also goes to that cell, as ipykernel shows a child's fd 1/2 in the running cell: a
process writes from its own thread, while the cell's output (``sandbox/output.py``
``Operation``) belongs to the sandbox's guest thread, so writes are queued here and moved into
the cell on the guest thread whenever the notebook makes a host call (each ``proc_*`` wait
slice, every stream flush, the cell's reply): output streams in as it is produced while the
notebook waits for its child, and counts against the cell's output cap there. The queue is
bounded (the output cap): past it, bytes are dropped from the cell (not from the log) with a
notice.

What a background process writes *while no cell runs* (a server's request log between
cells) goes to its log only, never to some later cell: ipykernel sends it to the kernel's
terminal, where no notebook sees it either. So that it is never lost silently, the next cell
says once per process how many bytes went to the log and how to read them
(``%sandbox logs PID``, or the commands API's ``GET .../commands/PID/logs``). Memory stays
bounded: the log has its cap, and here one small counter per process (at most
``MAX_HELD`` of them).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from .process import Process, Sink

if TYPE_CHECKING:
    from ..sandbox.output import Operation

#: Counters of between-cells output kept: one per process, the last for all the others.
MAX_HELD = 64


def _describe(process: Process | None) -> str:
    if process is None:
        return "a process"
    command = " ".join(process.argv)
    command = command if len(command) <= 60 else command[:57] + "..."
    return f"process {process.pid} ({command})"


class CellOutput:
    def __init__(self, cap: int, cell_running: Callable[[], bool] = lambda: True) -> None:
        """``cell_running``: whether a notebook cell runs now (any thread)."""
        self._cap = cap
        self._cell_running = cell_running
        self._queue: deque[tuple[int, bytes]] = deque()
        self._bytes = 0
        self._dropped = 0
        #: pid -> (description, bytes written while no cell ran); pid 0: the rest.
        self._held: dict[int, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def sink(self, fd: int, owner: Callable[[], Process | None] = lambda: None) -> Sink:
        """Where an inherited ``fd`` of a process goes; ``owner`` names the process (it is
        made after its streams)."""
        def write(data: bytes) -> None:
            if not data:
                return
            if not self._cell_running():
                self._hold(owner(), len(data))
                return
            with self._lock:
                room = self._cap - self._bytes
                if len(data) > room:
                    self._dropped += len(data) - max(room, 0)
                    data = data[:max(room, 0)]
                if data:
                    self._queue.append((fd, bytes(data)))
                    self._bytes += len(data)

        return write

    def _hold(self, process: Process | None, size: int) -> None:
        pid = 0 if process is None else process.pid
        with self._lock:
            if pid not in self._held and len(self._held) >= MAX_HELD - 1:
                pid = 0
            what, held = self._held.get(pid, ("", 0))
            if not what:
                what = _describe(process) if pid else "other processes"
            self._held[pid] = (what, held + size)

    def pending(self) -> bool:
        return bool(self._queue) or bool(self._dropped) or bool(self._held)

    def drain_into(self, cell: Operation | None) -> None:
        """Guest thread: hand what is queued to the running cell (none, or an operation that
        is not a cell, such as a completion or a preview request: it waits)."""
        if cell is None or not self.pending() or not self._cell_running():
            return
        with self._lock:
            items, self._queue = list(self._queue), deque()
            self._bytes = 0
            dropped, self._dropped = self._dropped, 0
            held, self._held = self._held, {}
        for pid, (what, size) in sorted(held.items()):
            where = (f"%sandbox logs {pid}, or GET .../commands/{pid}/logs" if pid else
                     "%sandbox logs PID")
            cell.notify(f"[{what} wrote {size:,} bytes of output while no cell was running; "
                        f"they are in its log ({where})]")
        for fd, data in items:
            cell.fd_write(fd, data)
        if dropped:
            cell.notify(f"[{dropped} bytes of output from the sandbox's processes were "
                        "dropped: more than the cell's output limit (Limits.output_bytes) "
                        "arrived before the cell could show it; each process's log keeps "
                        "them (%sandbox logs PID)]")
