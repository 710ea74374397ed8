"""One live guest: a wasmtime store and instance of the CPython reactor, and its ABI.

The ABI (DESIGN.md): ``turn(ptr, len)`` runs source text in ``__main__``; ``host_alloc(n)``
allocates guest memory for the host; the guest calls the import ``host.call`` with a request and
the host answers by allocating the reply inside the guest. A turn returns 0 ok, 1 uncaught
exception, ``n & 0xFF`` for ``sys.exit(n)``, ``256 + n`` after ``exit()``, -1 once dead.

All methods that touch the store run on the guest thread, and check it: ``turn``,
``memory_view``, ``memory_bytes`` and ``close`` call the ``guard`` given at construction (the
sandbox's ``GuestWorker.assert_on_guest_thread``; by default: the thread that created the
instance), which raises ``WrongThreadError`` from any other thread. ``request_signal``,
``request_interrupt``, ``arm_hard_stop`` and ``observed_memory_bytes`` are for any thread.

A ``host.call`` request is bounded before it is read: its length comes from the guest, so a
request longer than ``request_limit()`` is never copied out of guest memory; ``on_oversized``
answers it instead (the guest sees an ordinary reply saying it was dropped).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable

import wasmtime

from . import module_cache
from .errors import GuestDiedError, WrongThreadError
from .wasi import ProcExit, Wasi, WasiState
from .wasmtime_private import EpochCallback, memory_view, read_memory

log = logging.getLogger("jupyter_sandbox.guest_instance")

_I32 = wasmtime.ValType.i32()
SIGINT = 2
#: Delivered every few tenths of a second while a cell runs: the guest flushes its streams.
SIGUSR1 = 10

#: Handles one ``_host.call`` request; returns the reply bytes (or a view of a buffer the
#: handler reuses: it is copied into the guest before the handler is called again).
CallHandler = Callable[[bytes], bytes | memoryview]
#: Answers a request longer than the limit, given its length, without reading it.
OversizedHandler = Callable[[int], bytes]
#: The bound on one request when the owner sets none.
DEFAULT_REQUEST_LIMIT = 16 << 20
#: Checks that the caller is on the guest thread; given what is being done, raises
#: ``WrongThreadError`` otherwise.
ThreadGuard = Callable[[str], None]


def creating_thread_guard() -> ThreadGuard:
    """A guard that accepts only the calling thread (for an instance used without a worker)."""
    owner = threading.current_thread()

    def check(what: str) -> None:
        current = threading.current_thread()
        if current is not owner:
            raise WrongThreadError(what, owner.name, current.name)

    return check


class GuestInstance:
    """Owns one store and instance. ``close()`` is idempotent; use after close raises."""

    def __init__(self, wasi_state: WasiState, memory_limit: int, on_call: CallHandler, *,
                 request_limit: Callable[[], int] = lambda: DEFAULT_REQUEST_LIMIT,
                 on_oversized: OversizedHandler | None = None,
                 guard: ThreadGuard | None = None) -> None:
        self._guard = guard or creating_thread_guard()
        engine = module_cache.engine()
        self.store = wasmtime.Store(engine)
        self.store.set_limits(memory_size=memory_limit)
        self.store.set_epoch_deadline(1)
        self._on_call = on_call
        self._request_limit = request_limit
        self._on_oversized = on_oversized
        self.wasi = Wasi(wasi_state)
        linker = wasmtime.Linker(engine)
        self.wasi.define(linker)
        linker.define_func("host", "call", wasmtime.FuncType([_I32] * 4, [_I32]), self._host_call,
                           access_caller=True)
        self._pending_signals: set[int] = set()
        self._signals_lock = threading.Lock()
        self._hard_stop_reason: str | None = None
        self._hard_stop_at: float | None = None
        #: A new store memory limit asked for from another thread (``set_memory_limit``),
        #: applied on the guest thread at its next epoch check, host call or turn.
        self._pending_limit: int | None = None
        self.memory_limit = memory_limit
        #: The status the guest gave ``proc_exit`` (``os._exit``), once it did.
        self.exit_code: int | None = None
        self._epoch = EpochCallback(self.store, self._on_epoch)
        instance = linker.instantiate(self.store, module_cache.guest_module())
        exports = instance.exports(self.store)
        self.memory: wasmtime.Memory = exports["memory"]  # type: ignore[assignment]
        self._turn: wasmtime.Func = exports["turn"]  # type: ignore[assignment]
        self._alloc: wasmtime.Func = exports["host_alloc"]  # type: ignore[assignment]
        self._set_interrupt: wasmtime.Func = exports[module_cache.INTERRUPT_EXPORT]  # type: ignore[assignment]
        self.wasi.attach(self.memory)
        self.dead: str | None = None
        self._closed = False
        #: The memory size as last seen on the guest thread (after each turn and at each epoch
        #: tick while one runs): what other threads may read instead of the store.
        self.observed_memory_bytes = self.memory.data_len(self.store)

    # -- host.call --------------------------------------------------------------------------
    def _host_call(self, caller: wasmtime.Caller, req: int, req_len: int, out_ptr: int,
                   out_len: int) -> int:
        req, req_len = req & 0xFFFFFFFF, req_len & 0xFFFFFFFF  # wasm pointers are unsigned
        self._apply_memory_limit()
        reply: bytes | memoryview
        try:
            if req_len > self._request_limit():
                if self._on_oversized is None:
                    return -1
                reply = self._on_oversized(req_len)
            else:
                if req + req_len > self.memory.data_len(caller):
                    return -1
                reply = self._on_call(read_memory(self.memory, caller, req, req_len))  # one copy
        except Exception:  # the guest sees a failed call, never a host crash
            log.exception("a host.call request from the guest failed on the host")
            return -2
        size = len(reply)
        address = self._alloc(caller, size) & 0xFFFFFFFF
        if address == 0 and size:
            return -1
        if size:
            memory = memory_view(self.memory, caller)  # one copy (Memory.write makes two)
            if address + size > len(memory):
                return -1
            memory[address:address + size] = reply
        self.memory.write(caller, struct.pack("<I", address), out_ptr)
        self.memory.write(caller, struct.pack("<I", len(reply)), out_len)
        return 0

    # -- interrupts and hard stops -------------------------------------------------------
    def request_signal(self, signum: int) -> None:
        """Thread-safe: run the guest's Python handler for ``signum`` at its next safe point."""
        with self._signals_lock:
            self._pending_signals.add(signum)
        module_cache.engine().increment_epoch()

    def request_interrupt(self) -> None:
        """Thread-safe: raise KeyboardInterrupt in the guest at its next safe point (a
        sleeping guest wakes up for it).

        The signal is pending and the epoch advanced *before* the sleeping guest is woken, all
        under the lock ``_on_epoch`` takes: a guest woken early from ``time.sleep`` (its sleep
        returns) then always meets the interrupt at its next epoch check, inside the cell.
        Woken first, it could finish the cell before the signal was requested, and the
        interrupt was lost (the cell ended "ok" after a shortened sleep); and ``_on_epoch``
        clearing the wake-up never drops a wake-up that belongs to a later interrupt."""
        with self._signals_lock:
            self._pending_signals.add(SIGINT)
            module_cache.engine().increment_epoch()
            self.wasi.state.wakeup.set()

    def arm_hard_stop(self, at: float, reason: str) -> None:
        """From ``at`` (monotonic time) on, the next epoch check traps the guest with ``reason``."""
        self._hard_stop_at = at
        self._hard_stop_reason = reason

    def disarm(self) -> None:
        self._hard_stop_at = None
        self._hard_stop_reason = None
        with self._signals_lock:
            self._pending_signals.clear()
        self.wasi.state.wakeup.clear()

    # -- the memory limit ---------------------------------------------------------------
    def set_memory_limit(self, limit: int) -> None:
        """Thread-safe: change the store's memory limit (the sandbox lowers its notebook's
        while processes hold part of the memory, and raises it back when they end). Applied
        on the guest thread at once when called there, else at its next epoch check (the
        epoch is advanced so a running guest meets one at once), host call or turn. Memory
        already in use is never taken back: a lower limit only stops further growth (the
        next ``memory.grow`` past it fails, which the guest sees as ``MemoryError``)."""
        with self._signals_lock:
            self._pending_limit = limit
        if self._on_own_thread():
            self._apply_memory_limit()
        else:
            module_cache.engine().increment_epoch()

    def _on_own_thread(self) -> bool:
        try:
            self._guard("setting the memory limit")
        except WrongThreadError:
            return False
        return True

    def _apply_memory_limit(self) -> None:
        """Guest thread: apply a pending ``set_memory_limit`` (wasmtime accepts a new limit
        at any time, even inside a host call; tests/runtime/test_processes_memory.py)."""
        with self._signals_lock:
            limit, self._pending_limit = self._pending_limit, None
        if limit is not None and not self._closed:
            self.store.set_limits(memory_size=limit)
            self.memory_limit = limit

    def _on_epoch(self) -> str | None:
        if self._hard_stop_at is not None and time.monotonic() >= self._hard_stop_at:
            return self._hard_stop_reason or "hard stop"
        if self._pending_limit is not None:
            self._apply_memory_limit()
        with self._signals_lock:
            pending, self._pending_signals = self._pending_signals, set()
            if SIGINT in pending and not self.wasi.state.wakeup_until_polled:
                self.wasi.state.wakeup.clear()
        self.observed_memory_bytes = self.memory.data_len(self.store)
        for signum in sorted(pending):
            self._set_interrupt(self.store, signum)
        return None

    # -- turns ------------------------------------------------------------------------------
    def turn(self, source: str) -> int:
        """Run ``source`` as one interactive turn; raise ``GuestDiedError`` if it traps."""
        self._guard("a guest turn")
        if self._closed:
            raise GuestDiedError("this guest instance is closed")
        if self.dead:
            raise GuestDiedError(self.dead)
        self._apply_memory_limit()
        data = source.encode()
        try:  # a hard stop may already trap the allocation of the source
            address = self._alloc(self.store, len(data)) & 0xFFFFFFFF
            self.memory.write(self.store, data, address)
            status = int(self._turn(self.store, address, len(data)))
            self.observed_memory_bytes = self.memory.data_len(self.store)
            return status
        except ProcExit as exc:
            self.exit_code = exc.code
            self.dead = f"the guest exited the interpreter (status {exc.code})"
        except wasmtime.Trap as exc:
            self.dead = self._hard_stop_reason or f"the guest interpreter crashed: {exc.message}"
        except wasmtime.WasmtimeError as exc:
            self.dead = self._hard_stop_reason or f"the guest interpreter crashed: {exc}"
        raise GuestDiedError(self.dead)

    def memory_view(self) -> memoryview:
        """Linear memory without copying; valid until the guest runs again or memory grows."""
        self._guard("reading guest memory")
        return memory_view(self.memory, self.store)

    def memory_bytes(self) -> int:
        """The guest's memory size now (guest thread; other threads: ``observed_memory_bytes``)."""
        self._guard("reading the guest's memory size")
        return self.memory.data_len(self.store)

    def close(self) -> None:
        """Free the store and the guest's open files (guest thread). Safe to call twice."""
        if self._closed:
            return
        self._guard("closing the guest's store")
        self._closed = True
        self.wasi.state.close_all()
        self.store.close()
