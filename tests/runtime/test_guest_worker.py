"""The guest thread never leaves a request waiting for ever: it outlives a failing idle task,
and should it end without being stopped, queued and later jobs fail with a clear error."""

from __future__ import annotations

import threading

import pytest

from jupyter_sandbox.runtime.errors import GuestThreadEndedError, SandboxClosedError
from jupyter_sandbox.runtime.sandbox.worker import GuestWorker

DEADLINE = 60


def test_idle_task_raising_a_base_exception_leaves_the_thread_serving():
    idled = threading.Event()

    def idle() -> None:
        idled.set()
        raise SystemExit("an idle task that exits")

    worker = GuestWorker("test-idle", idle, idle_seconds=0.01)
    try:
        worker.idle_due = True
        assert worker.call(lambda: 1) == 1
        assert idled.wait(DEADLINE)
        assert worker.submit(lambda: 2).result(DEADLINE) == 2
    finally:
        worker.stop(DEADLINE)


def test_a_thread_that_ended_unstopped_fails_jobs_instead_of_hanging():
    worker = GuestWorker("test-ended", lambda: None, idle_seconds=60)
    release = threading.Event()
    blocker = worker.submit(release.wait)
    queued = worker.submit(lambda: "never runs")
    # the thread's loop ends as if it had died: the queued job is behind the end marker
    worker._jobs.put(None)
    late = worker.submit(lambda: "after the end")
    release.set()
    assert blocker.result(DEADLINE) is True
    assert queued.result(DEADLINE) == "never runs"
    with pytest.raises(GuestThreadEndedError, match="restart the kernel"):
        late.result(DEADLINE)
    with pytest.raises(GuestThreadEndedError, match="ended unexpectedly"):
        worker.submit(lambda: None)


def test_submit_after_stop_is_a_closed_sandbox():
    worker = GuestWorker("test-stopped", lambda: None, idle_seconds=60)
    worker.stop(DEADLINE)
    with pytest.raises(SandboxClosedError):
        worker.submit(lambda: None)
