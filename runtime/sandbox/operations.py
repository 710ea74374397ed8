"""Operations (guest thread): one request through one dispatch turn of the guest shim, a cell
with its notices, time limit and ``%snapshot`` follow-up, and stopping what runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import module_cache, protocol
from ..errors import GuestDiedError, SandboxClosedError, SandboxError
from ..guest_instance import SIGUSR1
from ..protocol import ExecuteRequest, GuestRequest, StopReason, Unchecked
from . import magics, recovery
from .messages import ExecuteReply
from .output import Operation

if TYPE_CHECKING:
    from . import Sandbox


def operate(sandbox: Sandbox, request: GuestRequest, cell: Operation) -> Unchecked:
    """Run one request through a dispatch turn (guest thread); the guest's reply, unchecked
    (``execute`` cleans an execute reply; other callers check the fields they read)."""
    instance = sandbox._instance
    if instance is None:
        raise SandboxClosedError()
    sandbox._pending_request = request
    sandbox._cell = cell
    try:
        status = instance.turn(protocol.DISPATCH_SOURCE)
    finally:
        sandbox._cell = None
        instance.disarm()
    count = sandbox.execution_count
    if cell.reply is None and cell.stopped_by:
        # The signal landed outside the shim's handlers (as the turn began): the
        # operation was stopped before it ran.
        ename = "TimeoutError" if cell.stopped_by is StopReason.TIMEOUT else "KeyboardInterrupt"
        return {"status": "error", "ename": ename, "evalue": "", "traceback": [],
                "user_expressions": {}, "execution_count": count}
    if cell.oversized and (cell.reply is None or cell.preview):
        # A message (maybe the reply itself) was too large to read: say so instead of
        # answering as if nothing were missing (a preview's response would be cut short).
        why = "the sandbox sent a message larger than the host accepts; it was dropped"
        cell.reply = {"status": "error", "ename": "OutputLimitError", "evalue": why,
                      "traceback": [], "user_expressions": {}, "execution_count": count,
                      "code": 502,
                      "message": "The app's response was larger than the preview accepts."}
    if cell.reply is None:
        raise SandboxError(f"the guest shim did not answer a {request['type']!r} request "
                           f"(turn status {status})")
    return cell.reply


def execute(sandbox: Sandbox, request: ExecuteRequest, cell: Operation) -> ExecuteReply:
    """A notebook cell (guest thread): a pending restart notice first, the cell under its
    time limit, a restart from the recovery point if it killed the interpreter, then the
    ``%snapshot`` action it asked for."""
    notice, sandbox._restart_notice = sandbox._restart_notice, None
    if notice:
        cell.notify(notice)
    start_clock(sandbox, cell)
    try:
        reply = protocol.clean_execute_reply(sandbox._operate(request, cell),
                                             sandbox.execution_count)
    except GuestDiedError as exc:
        recovery.restart_after_death(sandbox, cell, str(exc))
        return ExecuteReply("error", sandbox.execution_count, ename="SandboxRestarted",
                            evalue=str(exc), traceback=[f"SandboxRestarted: {exc}"],
                            restarted=True)
    finally:
        sandbox._clock.stop()
        sandbox._worker.idle_due = True
    sandbox.execution_count = reply["execution_count"]
    result = ExecuteReply(
        status=reply["status"], execution_count=sandbox.execution_count,
        user_expressions=reply["user_expressions"],
        ename=reply["ename"], evalue=reply["evalue"],
        traceback=list(reply["traceback"]), payload=list(reply["payload"]))
    failed = magics.after_cell(sandbox, cell)
    if failed is not None and result.status == "ok":
        result = ExecuteReply("error", sandbox.execution_count, ename="SnapshotError",
                              evalue=failed, traceback=[f"SnapshotError: {failed}"])
    return result


def start_clock(sandbox: Sandbox, cell: Operation, timeout: float | None = None,
                what: str = "the cell") -> None:
    """While a cell (or a preview request) runs: ask the guest to flush its output streams
    every ``STREAM_FLUSH_SECONDS``, and enforce the time limit (``timeout``, default the cell
    timeout): a soft TimeoutError, then after a grace period a hard stop (which kills the
    interpreter; ``execute`` or the preview job brings it back from the recovery point).
    ``sandbox._clock.stop()`` ends it."""
    limits = sandbox.config.limits
    instance = sandbox._instance
    if instance is None:
        return
    if timeout is None:
        timeout = limits.cell_timeout
    deadline = None if timeout is None else time.monotonic() + timeout

    def on_deadline() -> None:
        cell.interrupt_reason = StopReason.TIMEOUT
        cell.stopped_by = StopReason.TIMEOUT
        instance.arm_hard_stop(time.monotonic() + limits.timeout_grace,
                               f"{what} ran past its time limit of {timeout:g} s "
                               f"and did not stop within {limits.timeout_grace:g} s")
        instance.request_interrupt()
        if cell.on_timeout is not None:
            cell.on_timeout()

    def after_deadline() -> None:  # keep waking the guest until the hard stop lands
        module_cache.engine().increment_epoch()
        instance.wasi.state.wakeup.set()

    sandbox._clock.run(lambda: instance.request_signal(SIGUSR1), deadline, on_deadline,
                       after_deadline)


def interrupt(sandbox: Sandbox, cell: Operation | None = None,
              reason: StopReason = StopReason.INTERRUPT) -> None:
    """Stop the operation in progress (any thread, never waits): KeyboardInterrupt
    (``INTERRUPT``) or TimeoutError (``TIMEOUT``). With ``cell``, only if it is the one running
    and not already past its deadline (a preview request)."""
    running, instance = sandbox._cell, sandbox._instance
    if running is None or instance is None:
        return
    if cell is None:
        if running.interrupt_reason is StopReason.NONE:
            running.interrupt_reason = reason
        running.stopped_by = running.stopped_by or reason
    else:
        if running is not cell or cell.stopped_by is StopReason.TIMEOUT:
            return
        cell.interrupt_reason = reason
        cell.stopped_by = reason
    instance.request_interrupt()
