"""The sandbox's memory limit shared by its notebook and its processes.

Every process is a guest instance with its own linear memory, and all of them together must
stay within ``Limits.memory_bytes``. A wasmtime store cannot ask "is there room?" as it grows,
so the limit is split up front: a process is *granted* a store limit when it starts (at most
``Limits.process_memory_bytes``, at least enough to hold the base image and some headroom, and
otherwise at most half of what is free now, so the notebook keeps room to grow), and the
notebook's own store limit is lowered by what the running processes were granted, raised
back when they end (``GuestInstance.set_memory_limit``: wasmtime accepts a new limit at any
time). A process that cannot get its minimum is refused with ``ProcessMemoryError`` naming
the numbers; one that outgrows its grant gets ``MemoryError`` inside itself, alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import ProcessMemoryError

MiB = 1 << 20
#: Memory a process needs beyond the base image to run anything at all.
HEADROOM = 16 * MiB


class MemoryBudget:
    """Grants, keyed by process (or ``"spare"``); thread-safe."""

    def __init__(self, limit: int, per_process: int, parent_used: Callable[[], int],
                 set_parent_limit: Callable[[int], None]) -> None:
        self.limit = limit
        self._per_process = per_process
        self._parent_used = parent_used
        self._set_parent_limit = set_parent_limit
        self._grants: dict[object, int] = {}
        self._lock = threading.Lock()

    def held(self) -> int:
        """What the processes were granted, together."""
        with self._lock:
            return sum(self._grants.values())

    def parent_limit(self) -> int:
        """The notebook's store limit now: the sandbox's limit less the grants."""
        return self.limit - self.held()

    def grant(self, key: object, minimum: int, *, exactly: int | None = None,
              replaces: object | None = None) -> int:
        """Grant ``key`` as much as it may have (``exactly``: that much), at least
        ``minimum`` (else ``ProcessMemoryError``); ``replaces``: a grant handed over to
        ``key`` (the spare's), counted as free."""
        with self._lock:
            given_back = self._grants.get(replaces, 0) if replaces is not None else 0
            used = self._parent_used() + sum(self._grants.values()) - given_back
            free = self.limit - used
            # Half of what is free at most, so the notebook (and the next process) keeps room.
            wanted = exactly if exactly is not None else min(self._per_process,
                                                             max(minimum, free // 2))
            amount = min(wanted, free)
            if amount < minimum:
                raise ProcessMemoryError(minimum, max(free, 0), self.limit, used)
            if replaces is not None:
                self._grants.pop(replaces, None)
            self._grants[key] = amount
            parent = self.limit - sum(self._grants.values())
        self._set_parent_limit(parent)
        return amount

    def release(self, key: object) -> None:
        with self._lock:
            if self._grants.pop(key, None) is None:
                return
            parent = self.limit - sum(self._grants.values())
        self._set_parent_limit(parent)

    def granted(self, key: object) -> int:
        with self._lock:
            return self._grants.get(key, 0)
