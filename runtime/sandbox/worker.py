"""The guest thread and its job queue: the one place a sandbox's wasmtime store is used from.

Everything that touches the store runs as a job on this thread (started with a large native
stack, so deep recursion in the guest ends as ``RecursionError`` rather than a crash). Other
threads ``submit`` work and wait on a ``concurrent.futures.Future``; asyncio code awaits
``run``. ``assert_on_guest_thread`` is the thread rule in code: ``GuestInstance`` calls it before
every store access, so a store touched from elsewhere fails with ``WrongThreadError`` instead of
racing a running cell. While idle after a cell, the worker calls ``on_idle`` once (the sandbox
takes its recovery point then).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .. import module_cache
from ..errors import GuestThreadEndedError, SandboxClosedError, WrongThreadError

T = TypeVar("T")
log = logging.getLogger("jupyter_sandbox.sandbox.worker")

_Job = tuple[Callable[[], Any], concurrent.futures.Future[Any]]


class GuestWorker:
    """One guest thread fed by a queue. ``stop()`` ends it; ``submit`` after that raises
    ``SandboxClosedError``."""

    def __init__(self, name: str, on_idle: Callable[[], None], idle_seconds: float) -> None:
        self.name = name
        self._on_idle = on_idle
        self._idle_seconds = idle_seconds
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        #: Set after a cell: once the queue has been empty for ``idle_seconds``, ``on_idle`` runs.
        self.idle_due = False
        self._closed = False
        #: Why the thread ended without stop() (then every job fails instead of waiting).
        self._ended: str | None = None
        previous = threading.stack_size(module_cache.GUEST_THREAD_STACK)
        try:
            self._thread = threading.Thread(target=self._work, name=name, daemon=True)
            self._thread.start()
        finally:
            threading.stack_size(previous)

    # -- the thread rule ------------------------------------------------------------------
    def on_guest_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def assert_on_guest_thread(self, what: str = "this operation") -> None:
        """Raise ``WrongThreadError`` unless called on the guest thread (used by
        ``GuestInstance`` before each store access)."""
        if threading.current_thread() is not self._thread:
            raise WrongThreadError(what, self._thread.name, threading.current_thread().name)

    # -- entry points ---------------------------------------------------------------------
    def submit(self, func: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Queue ``func`` behind the running job; its future holds the result or exception.
        Cancel the future to withdraw a job that has not started."""
        if self._closed:
            raise SandboxClosedError()
        if self._ended is not None:
            raise GuestThreadEndedError(self.name, self._ended)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((func, future))
        if self._ended is not None:  # it ended while this job was being queued
            self._fail_queued()
        return future

    def call(self, func: Callable[[], T]) -> T:
        """Run ``func`` on the guest thread and wait for it (directly when already there)."""
        if threading.current_thread() is self._thread:
            return func()
        return self.submit(func).result()

    async def run(self, func: Callable[[], T]) -> T:
        """Run ``func`` on the guest thread without blocking the calling event loop: an
        asyncio future wrapping the job's concurrent one (cancelling it withdraws a job that
        has not started)."""
        return await asyncio.wrap_future(self.submit(func))

    # -- life cycle -----------------------------------------------------------------------
    def stop(self, timeout: float) -> None:
        """Refuse new jobs, let the queued ones run, end the thread (waits up to ``timeout``)."""
        self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.warning("the guest thread %s did not end within %g s", self.name, timeout)

    def _work(self) -> None:
        """The thread's body. Should it ever end without ``stop()``, the jobs queued and every
        later ``submit`` fail with ``GuestThreadEndedError`` rather than wait for ever."""
        try:
            self._serve()
        except BaseException as exc:
            self._ended = f"{type(exc).__name__}: {exc}"
            log.critical("the guest thread %s ended: %s", self.name, self._ended, exc_info=True)
        else:
            if not self._closed:
                self._ended = "it returned without being stopped"
        finally:
            if self._ended is not None:
                self._fail_queued()

    def _fail_queued(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None and job[1].set_running_or_notify_cancel():
                job[1].set_exception(GuestThreadEndedError(self.name, self._ended or "?"))

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_seconds if self.idle_due else None)
            except queue.Empty:
                self.idle_due = False
                try:
                    self._on_idle()
                except BaseException:  # the guest thread must outlive its idle task
                    log.exception("the idle task of %s failed", self.name)
                continue
            if job is None:
                return
            func, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(func())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                future.set_exception(exc)
