"""The ``_host.call`` router: every request the guest makes of the host during an operation.

Runs on the guest thread, inside a turn (the guest waits for the answer). A request is bounded
before it is read (``request_limit``: the output cap plus slack, a preview's message size for a
preview); a longer one is refused unread and counts as output past the cap.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .. import protocol
from ..network.router import NetworkRouter
from ..protocol import ErrorAnswer, InterruptReasonAnswer, StopReason
from . import magics

if TYPE_CHECKING:
    from . import Sandbox


class GuestCalls:
    """Answers the guest's ``host.call`` requests for one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._network = NetworkRouter(sandbox.network, self._wakeup)

    def _wakeup(self) -> threading.Event:
        """The running guest's wake-up event (interrupt, deadline) that cuts network waits."""
        instance = self._sandbox._instance
        return instance.wasi.state.wakeup if instance is not None else threading.Event()

    def request_limit(self) -> int:
        """The longest ``host.call`` request read from the guest: the output cap plus slack
        (a preview's answer: ``PREVIEW_MESSAGE_BYTES``). Longer ones are refused unread."""
        cell = self._sandbox._cell
        limit = max(self._sandbox.config.limits.output_bytes, cell.output_limit if cell else 0)
        if cell is not None and cell.preview:
            limit = max(limit, protocol.PREVIEW_MESSAGE_BYTES)
        return limit + protocol.MESSAGE_SLACK

    def on_oversized(self, length: int) -> bytes:
        """A request too long to read: counts as output past the cap."""
        cell = self._sandbox._cell
        if cell is not None:
            cell.oversized += 1
            if not cell.preview:
                cell.cap()
        return _error(f"the request of {length} bytes is larger than the "
                      f"{self.request_limit()} bytes the host accepts; it was dropped")

    def on_fd_write(self, fd: int, data: bytes) -> None:
        """Raw writes to fd 1/2 go to the operation in progress (none: dropped)."""
        cell = self._sandbox._cell
        if cell is not None:
            cell.fd_write(fd, data)

    def on_call(self, raw: bytes) -> bytes | memoryview:
        sandbox = self._sandbox
        if raw[:1] == protocol.NET_CALL_PREFIX:  # sockets: binary, see protocol.py
            return self._network.on_call(raw, sandbox._cell)
        request = protocol.decode(raw)  # a protocol.GuestCall, if the guest plays by the rules
        if not isinstance(request, dict):
            return _error("a request must be a JSON object")
        op = request.get("op")
        cell = sandbox._cell
        if cell is None:
            return _error("no operation in progress")
        processes = sandbox.processes
        if processes.cell_output.pending():  # background processes' inherited output
            processes.cell_output.drain_into(cell)
        if isinstance(op, str) and op.startswith("proc_"):
            return protocol.encode(processes.guest_call(request, cell))
        if op == "request":
            return protocol.encode(sandbox._pending_request or {})
        if op == "message":
            cell.guest_message(request, len(raw))
            return b"{}"
        if op == "reply":
            cell.guest_reply(request.get("content"), len(raw))
            return b"{}"
        if op == "input":
            return protocol.encode(cell.ask_input(request))
        if op == "interrupt_reason":
            answer: InterruptReasonAnswer = {"reason": cell.interrupt_reason}
            cell.interrupt_reason = StopReason.NONE
            return protocol.encode(answer)
        if op == "status":
            return protocol.encode(sandbox.status())
        if op == "snapshot":
            return protocol.encode(magics.snapshot_request(sandbox, cell, request))
        if op == "pip":
            return protocol.encode(magics.pip_request(sandbox, cell, request))
        return _error(f"unknown op {op!r}")


def _error(text: str) -> bytes:
    answer: ErrorAnswer = {"error": text}
    return protocol.encode(answer)
