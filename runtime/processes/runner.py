"""The host thread of one sandbox process.

A python/pip/command process is a new ``GuestInstance`` restored from the machine's base image
(memory only: the sandbox's ``VirtualFS`` is shared), with its own ``WasiState`` (argv, env,
fd 0 from the process's stdin pipe, fd 1/2 into its output), created on its own thread with a
large native stack (as the sandbox's guest thread, ``sandbox/worker.py``) so that the thread
rule holds: the instance is only ever touched by the thread that made it. It runs one turn of
``jupyter_sandbox_guest.process_main``, which asks the host what to run
(``process_start``), runs it and reports the exit status (``process_exit``).

A runner can be made ahead of need (the table's *spare*): it restores its instance and runs
``process_main.prepare()`` at once, then waits to be handed a process; starting a process is
then a hand-over, not a restore. A JavaScript process runs ``runtime.javascript`` on a thread
of its own the same way, with no guest instance.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import module_cache
from .. import snapshot as snapshot_format
from ..errors import GuestDiedError
from ..guest_instance import GuestInstance
from ..snapshot import PAGE
from ..wasi import FileHandle, StdStream, WasiState
from ..wasi_errno import WasiError
from ..wasmtime_private import populate_for_writing
from . import prepared_image
from .child_calls import ChildCalls
from .memory import HEADROOM
from .process import Process, Redirect

if TYPE_CHECKING:
    from .table import ProcessTable

log = logging.getLogger("jupyter_sandbox.processes")

PREPARE_SOURCE = "import jupyter_sandbox_guest.process_main as _pm\n_pm.prepare()\n"
MAIN_SOURCE = "_pm.main()\n"
#: ``process_main`` exits with this when the guest could not even set itself up.
FAILED_STATUS = 1


def start_thread(name: str, body: Callable[[], None]) -> threading.Thread:
    """A daemon thread with the guest's native stack size (deep recursion in the guest)."""
    previous = threading.stack_size(module_cache.GUEST_THREAD_STACK)
    try:
        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
    finally:
        threading.stack_size(previous)
    return thread


class GuestRunner:
    """One guest instance on its own thread, restored and prepared, then given one process."""

    def __init__(self, table: ProcessTable, image: snapshot_format.SnapshotImage,
                 name: str, budget_key: object, *, after: threading.Event | None = None,
                 at_most: float = 0.0) -> None:
        """``after``/``at_most``: restore only once ``after`` is set or ``at_most`` seconds
        passed (a spare made while a process starts waits for it to end, briefly, so the
        two do not compete for the CPU while a short process runs)."""
        self._after, self._at_most = after, at_most
        self._table = table
        self._image = image
        self.budget_key = budget_key
        self._jobs: queue.SimpleQueue[tuple[Process, int] | None] = queue.SimpleQueue()
        #: Set once the instance is ready (or failed: ``error``).
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._calls = ChildCalls(table)
        self._state: WasiState | None = None
        self.thread = start_thread(name, self._body)

    def hand_over(self, process: Process, grant: int) -> None:
        self._jobs.put((process, grant))

    def discard(self) -> None:
        """Stop an unused spare (its thread closes the instance and ends)."""
        self._jobs.put(None)

    # -- the thread ---------------------------------------------------------------------------
    def _body(self) -> None:
        instance: GuestInstance | None = None
        if self._after is not None:
            self._after.wait(self._at_most)
        try:
            instance = self._restore()
        except BaseException as exc:  # noqa: BLE001 - reported to whoever hands a process over
            self.error = exc
            log.warning("a sandbox process could not be prepared: %s", exc)
        finally:
            self.ready.set()
        job = self._jobs.get()
        process: Process | None = None
        status = FAILED_STATUS
        try:
            if job is None:
                return
            process, grant = job
            if instance is None:
                process.write("stderr", f"the process could not start: {self.error}\n".encode())
                return
            status = self._run(instance, process, grant)
        finally:
            # Memory and thread are given back before the process is seen to end, so a
            # caller's wait() that returns finds the sandbox as it was before the start.
            if instance is not None:
                try:
                    instance.close()
                except Exception:
                    log.exception("closing a sandbox process's instance failed")
            self._table.runner_ended(self.budget_key)
            if process is not None:
                process.finish(status)

    def _restore(self) -> GuestInstance:
        image = self._image
        state = self._state = WasiState(self._table.vfs, ["python"], {}, self._write)
        state.read_input = self._read_input
        state.wakeup_until_polled = True  # an interrupt on the way into a sleep still lands
        for fd in (0, 1, 2):
            state.fds[fd] = StdStream(fd, tty=False)  # pipes, not a terminal
        state.monotonic_offset_ns = max(
            0, int(image.header.get("monotonic_ns", 0)) - time.monotonic_ns())
        restore = prepared_image.for_base(image)
        source = restore.image
        instance = GuestInstance(state, source.memory_bytes + HEADROOM, self._calls.on_call)
        try:
            current = instance.memory.data_len(instance.store)
            if source.memory_bytes > current:
                instance.memory.grow(instance.store, (source.memory_bytes - current) // PAGE)
            populate_for_writing(instance.memory, instance.store,
                                 prepared_image.page_ranges(source))
            snapshot_format.write_memory(instance.memory, instance.store, source)
            if not restore.prepared:
                fresh = set(state.fds)
                status = instance.turn(PREPARE_SOURCE)
                if status != 0:
                    raise GuestDiedError(f"process_main.prepare() failed (status {status})")
                if set(state.fds) == fresh:
                    prepared_image.remember(image, instance)
        except BaseException:
            instance.close()
            raise
        return instance

    # WASI callbacks: route to the process once one is handed over.
    def _write(self, fd: int, data: bytes) -> None:
        process = self._calls.process
        if process is not None:
            process.on_fd_write(fd, data)

    def _read_input(self, size: int) -> bytes:
        process = self._calls.process
        if process is None or self._state is None:
            return b""
        return process.read_stdin(size, self._state.wakeup)

    def _run(self, instance: GuestInstance, process: Process, grant: int) -> int:
        """Run ``process`` in ``instance``; its exit status."""
        state = self._state
        assert state is not None  # noqa: S101 - set by _restore, which succeeded
        self._calls.process = process
        state.args = ["python", *process.argv[1:]]
        state.env = dict(process.env)
        status = FAILED_STATUS
        try:
            self._open_redirects(state, process.stdio.files)
            instance.set_memory_limit(grant)  # on its own thread: applied now
            process.memory_bytes = instance.memory_bytes()
            instance.disarm()  # a wake-up left from preparing is not for this program
            if not process.attach(instance):
                return status
            turn_status = instance.turn(MAIN_SOURCE)
            if process.reported_status is not None:
                status = process.reported_status
            elif process.interrupt_requested and turn_status == 1:
                status = -2  # interrupted while the interpreter started the program
            else:
                status = turn_status
        except GuestDiedError as exc:
            if process.killed:
                status = -9
            elif instance.exit_code is not None:
                status = instance.exit_code
            else:
                process.write("stderr", f"\nthe process's interpreter stopped: {exc}\n".encode())
                status = -6  # as a crashed (aborted) program
        except WasiError as exc:
            process.write("stderr", f"{process.argv[0]}: cannot open a redirection: "
                          f"{exc}\n".encode())
            status = FAILED_STATUS
        return status

    def _open_redirects(self, state: WasiState, files: dict[int, Redirect]) -> None:
        """``stdout=open(path)``: the process's fd 1/2 is that file of the sandbox."""
        import os

        for fd, redirect in files.items():
            host_fd, mount = self._table.vfs.open_file(redirect.path, write=True, create=True,
                                                      exclusive=False, truncate=False)
            if redirect.append:
                os.lseek(host_fd, 0, os.SEEK_END)
            state.fds[fd] = FileHandle(redirect.path, host_fd, True, redirect.append, mount)


class JavaScriptRunner:
    """A ``node`` process: the JavaScript engine (runtime/javascript, INTERFACES.md B) on a
    thread of its own; ``cancel`` (kill or interrupt) stops it."""

    def __init__(self, table: ProcessTable, process: Process, grant: int, name: str,
                 budget_key: object) -> None:
        self._table = table
        self._process = process
        self._grant = grant
        self.budget_key = budget_key
        self.thread = start_thread(name, self._body)

    def _body(self) -> None:
        process = self._process
        status = FAILED_STATUS
        try:
            from ..javascript import JavaScriptLimits, run_javascript

            if not process.attach(None, interrupt_hook=process.cancel.set):
                return
            status = run_javascript(
                argv=list(process.argv), env=dict(process.env), cwd=process.cwd,
                vfs=self._table.vfs, stdin=lambda: _read_or_end(process),
                write=process.write, limits=JavaScriptLimits(memory_bytes=self._grant),
                cancel=process.cancel)
        except ImportError:
            process.write("stderr", b"node: JavaScript is not available in this build of "
                          b"the sandbox (runtime/javascript is missing)\n")
            status = 127
        except Exception as exc:
            log.exception("a JavaScript process failed on the host")
            process.write("stderr", f"node: the JavaScript engine failed: {exc}\n".encode())
        finally:
            self._table.runner_ended(self.budget_key)
            process.finish(status)


def _read_or_end(process: Process) -> bytes:
    """stdin for the JavaScript engine: a kill or interrupt ends the input."""
    try:
        return process.read_stdin(1 << 16)
    except WasiError:
        return b""
