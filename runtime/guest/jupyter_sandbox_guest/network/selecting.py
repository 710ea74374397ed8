"""``select.select``, ``select.poll`` and ``selectors`` that understand brokered sockets.

A brokered socket's ``fileno()`` is no real file, so the guest's own ``select`` (WASI
``poll_oneoff``) cannot wait on it. These versions split what they are given: brokered sockets
are asked of the host in one ``poll`` call (which waits there, cut short by interrupts and the
cell deadline), everything else goes to the original functions. Ordinary fds in the sandbox
never block (files, stdio), so when one is ready the host is only asked what is ready now.
"""

from __future__ import annotations

import select
import selectors
from typing import Any

from . import host_calls
from .sockets import open_sockets

_real_select = select.select
_real_poll = select.poll
POLLIN, POLLOUT = select.POLLIN, select.POLLOUT
POLLPRI = getattr(select, "POLLPRI", 2)
POLLHUP = getattr(select, "POLLHUP", 16)


def _fd(obj: Any) -> int:
    if isinstance(obj, int):
        fd = obj
    else:
        fileno = getattr(obj, "fileno", None)
        if fileno is None:
            raise TypeError("argument must be an int, or have a fileno() method.")
        fd = fileno()
    if not isinstance(fd, int) or fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return fd


def _ask_host(read: list[int], write: list[int],
              timeout: float | None) -> tuple[set[int], set[int]]:
    """The fds (of brokered sockets) among ``read``/``write`` that are ready, waiting up to
    ``timeout`` (None: until one is, or an interrupt)."""
    ready_read = {fd for fd in read if open_sockets[fd].pending_bytes()}
    if ready_read:
        timeout = 0.0
    by_conn: dict[int, int] = {}
    conns_read: list[int] = []
    conns_write: list[int] = []
    for fds, conns in ((read, conns_read), (write, conns_write)):
        for fd in fds:
            conn = open_sockets[fd].connection_id
            if conn is None:
                continue  # not connected: never ready, as natively
            by_conn[conn] = fd
            conns.append(conn)
    if not conns_read and not conns_write and timeout == 0.0:
        return ready_read, set()
    answer = host_calls.waiting({"call": "poll", "read": conns_read, "write": conns_write},
                                timeout)
    if not isinstance(answer, dict):
        return ready_read, set()
    ready_read.update(by_conn[c] for c in answer.get("read", []) if c in by_conn)
    return ready_read, {by_conn[c] for c in answer.get("write", []) if c in by_conn}


def select_(rlist: Any, wlist: Any, xlist: Any,
            timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    """``select.select`` over brokered sockets and ordinary fds."""
    if timeout is not None:
        timeout = float(timeout)
        if timeout < 0:
            raise ValueError("timeout must be non-negative")
    rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
    brokered_r = [o for o in rlist if _fd(o) in open_sockets]
    brokered_w = [o for o in wlist if _fd(o) in open_sockets]
    if not brokered_r and not brokered_w:
        return _real_select(rlist, wlist, xlist, timeout)
    other_r = [o for o in rlist if _fd(o) not in open_sockets]
    other_w = [o for o in wlist if _fd(o) not in open_sockets]
    other_x = [o for o in xlist if _fd(o) not in open_sockets]
    ready_other: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    if other_r or other_w or other_x:
        ready_other = _real_select(other_r, other_w, other_x, 0)
        if any(ready_other):
            timeout = 0.0
    readable, writable = _ask_host([_fd(o) for o in brokered_r], [_fd(o) for o in brokered_w],
                                   timeout)
    return ([*ready_other[0], *(o for o in brokered_r if _fd(o) in readable)],
            [*ready_other[1], *(o for o in brokered_w if _fd(o) in writable)],
            list(ready_other[2]))


class BrokeredPoll:
    """``select.poll()``: registered fds may be brokered sockets or ordinary fds."""

    def __init__(self) -> None:
        self._masks: dict[int, int] = {}

    def register(self, fd: Any, eventmask: int = POLLIN | POLLPRI | POLLOUT) -> None:
        self._masks[_fd(fd)] = eventmask

    def modify(self, fd: Any, eventmask: int) -> None:
        number = _fd(fd)
        if number not in self._masks:
            raise FileNotFoundError(2, "No such file or directory")
        self._masks[number] = eventmask

    def unregister(self, fd: Any) -> None:
        del self._masks[_fd(fd)]

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        """``timeout`` in milliseconds; None or negative: wait until something is ready."""
        seconds = None if timeout is None or timeout < 0 else timeout / 1000
        brokered = {fd: m for fd, m in self._masks.items() if fd in open_sockets}
        others = {fd: m for fd, m in self._masks.items() if fd not in open_sockets}
        events: list[tuple[int, int]] = []
        if others:
            real = _real_poll()
            for fd, mask in others.items():
                real.register(fd, mask)
            events = real.poll(0 if brokered else timeout)
            if events or not brokered:
                seconds = 0.0
        if brokered:
            readable, writable = _ask_host(
                [fd for fd, m in brokered.items() if m & (POLLIN | POLLPRI)],
                [fd for fd, m in brokered.items() if m & POLLOUT], seconds)
            for fd in brokered:
                mask = (POLLIN if fd in readable else 0) | (POLLOUT if fd in writable else 0)
                if mask:
                    events.append((fd, mask))
        return events


class BrokeredPollSelector(selectors._PollLikeSelector):
    """``selectors.PollSelector`` over :class:`BrokeredPoll` (the default selector)."""

    _selector_cls = BrokeredPoll
    _EVENT_READ = POLLIN
    _EVENT_WRITE = POLLOUT


def install() -> None:
    select.select = select_
    select.poll = BrokeredPoll  # type: ignore[misc, assignment]
    selectors.SelectSelector._select = staticmethod(select_)  # type: ignore[attr-defined]
    selectors.PollSelector = BrokeredPollSelector  # type: ignore[misc, assignment]
    selectors.DefaultSelector = BrokeredPollSelector  # type: ignore[misc, assignment]
