"""Every use of wasmtime-py's non-public API, in one place.

wasmtime-py 49 has no public way to (1) set the async stack size, which wasmtime requires to be
at least ``max_wasm_stack`` (without it ``Engine()`` aborts the whole process), or (2) install an
epoch-deadline *callback*, which we need to run host code (raise ``KeyboardInterrupt`` inside the
guest, or stop it hard) when the epoch ticks. Both live here, and ``check()`` runs at import so a
wasmtime upgrade that moves a symbol fails with one clear ``ImportError`` instead of a segfault.
So do the raw views of guest memory (``memory_view``, ``read_memory``): the one place a
``Memory.data_ptr`` becomes a Python buffer, whose validity depends on wasmtime's memory layout.
``tests/runtime/test_wasmtime_private.py`` exercises each operation.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from importlib.metadata import version as _installed_version
from typing import Any

import wasmtime
from wasmtime import _bindings, _ffi
from wasmtime import _func as _wasmtime_func
from wasmtime import _slab as _wasmtime_slab
from wasmtime import _value as _wasmtime_value

SUPPORTED = "wasmtime>=49,<50"

_NEEDED = (
    (_ffi, "wasmtime_config_async_stack_size_set"),
    (_ffi, "wasmtime_store_epoch_deadline_callback"),
    (_ffi, "wasmtime_context_set_epoch_deadline"),
    (_ffi, "wasmtime_error_new"),
    (_bindings, "_wasmtime_store_epoch_deadline_callback"),
    (wasmtime.Config, "ptr"),
    (wasmtime.Store, "ptr"),
    (wasmtime.Caller, "_context"),
    (_wasmtime_slab, "Slab"),
    (_wasmtime_func, "FUNCTIONS"),
    (_wasmtime_value, "SLAB"),
)


def check() -> None:
    """Raise one ImportError naming every private symbol this module needs and cannot find."""
    missing = [name for holder, name in _NEEDED if not hasattr(holder, name)]
    if missing:
        raise ImportError(
            f"jupyter-sandbox uses private parts of wasmtime-py that wasmtime "
            f"{_installed_version('wasmtime')} lacks: {', '.join(missing)}. "
            f"Install {SUPPORTED!r}, or update jupyter_sandbox/runtime/wasmtime_private.py."
        )


check()


class _LockedSlab(_wasmtime_slab.Slab):  # type: ignore[type-arg]
    """wasmtime-py keeps every host function (``define_func``) and externref in a global
    ``Slab`` whose ``allocate``/``deallocate`` are not atomic: the sandbox's processes create
    and free stores on several threads at once (runtime/processes/), and two threads in
    ``allocate`` corrupted its free list (``TypeError: list indices must be integers``).
    The slabs get this class, which takes one lock around each operation."""

    _lock = threading.RLock()

    def allocate(self, val: Any) -> int:
        with self._lock:
            return super().allocate(val)

    def get(self, idx: int) -> Any:
        with self._lock:
            return super().get(idx)

    def deallocate(self, idx: int) -> None:
        with self._lock:
            super().deallocate(idx)


def _lock_slabs() -> None:
    for slab in (_wasmtime_func.FUNCTIONS, _wasmtime_value.SLAB):
        if type(slab) is _wasmtime_slab.Slab:
            slab.__class__ = _LockedSlab


_lock_slabs()

# (context, data, out: next deadline delta, out: update kind) -> error pointer or 0
_EPOCH_CALLBACK_TYPE = _bindings._wasmtime_store_epoch_deadline_callback.argtypes[1]
_EPOCH_FINALIZER_TYPE = _bindings._wasmtime_store_epoch_deadline_callback.argtypes[3]
_UPDATE_CONTINUE = 0


def set_async_stack_size(config: wasmtime.Config, size: int) -> None:
    """Set wasmtime's async stack size (must be >= ``max_wasm_stack``)."""
    _ffi.wasmtime_config_async_stack_size_set(config.ptr(), size)


class EpochCallback:
    """An epoch-deadline callback installed on one store.

    ``decide()`` is called on the guest thread each time the store's deadline is reached. It
    returns ``None`` to let the guest go on (the deadline is pushed ``ticks`` further) or a
    message, which traps the guest with that message. ``decide`` may call back into the guest:
    the deadline is raised before it runs so the nested call is not itself interrupted.
    Keep the object alive as long as the store: it owns the C callback.
    """

    def __init__(self, store: wasmtime.Store, decide: Callable[[], str | None]) -> None:
        self._store = store
        self._decide = decide
        self._c_callback = _EPOCH_CALLBACK_TYPE(self._on_deadline)
        _ffi.wasmtime_store_epoch_deadline_callback(
            store.ptr(), self._c_callback, None, _EPOCH_FINALIZER_TYPE()
        )

    def _on_deadline(self, context, _data, delta_out, kind_out) -> int:  # type: ignore[no-untyped-def]
        _ffi.wasmtime_context_set_epoch_deadline(context, 1 << 40)
        try:
            verdict = self._decide()
        except BaseException as exc:  # noqa: BLE001 - must not unwind through C frames
            verdict = f"sandbox epoch handler failed: {exc!r}"
        delta_out[0] = 1
        kind_out[0] = _UPDATE_CONTINUE
        if verdict is None:
            return 0
        error = ctypes.cast(_ffi.wasmtime_error_new(verdict.encode()), ctypes.c_void_p)
        return error.value or 0


def memory_view(memory: wasmtime.Memory,
                context: wasmtime.Store | wasmtime.Caller) -> memoryview:
    """A guest's linear memory as a writable byte view, without copying.

    The one place that turns ``Memory.data_ptr`` into a Python buffer. The view is valid only
    until the guest runs again or its memory grows, and only on the guest's thread."""
    buffer = (ctypes.c_ubyte * memory.data_len(context)).from_address(
        memory_address(memory, context))
    return memoryview(buffer).cast("B")


def memory_address(memory: wasmtime.Memory, context: wasmtime.Store | wasmtime.Caller) -> int:
    """The host address where the guest's linear memory starts (moves when memory grows)."""
    return ctypes.addressof(memory.data_ptr(context).contents)


def read_memory(memory: wasmtime.Memory, context: wasmtime.Store | wasmtime.Caller,
                offset: int, length: int) -> bytes:
    """Copy ``length`` bytes at ``offset`` out of guest memory (the caller checked the bounds)."""
    return ctypes.string_at(memory_address(memory, context) + offset, length)


_MADV_HUGEPAGE = 14
_MADV_POPULATE_WRITE = 23  # Linux 5.14+
_libc: Any = None


def populate_for_writing(memory: wasmtime.Memory, context: wasmtime.Store,
                         ranges: list[tuple[int, int]]) -> bool:
    """Fault in the ``(offset, length)`` ranges of a guest's linear memory before a restore
    writes them (``madvise(MADV_HUGEPAGE)`` where it applies, then
    ``madvise(MADV_POPULATE_WRITE)``), so the kernel's page faults happen in one call per
    range with the GIL released instead of one by one inside Python slice assignments that
    hold it (a process restored next to a running one slowed it down); about 10 -> 6 ms for
    the ~23 MiB a process instance restores. False where the call is not available (not
    Linux, older kernel): the writes fault as before."""
    global _libc
    if _libc is None:
        libc: Any
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            libc.madvise.restype = ctypes.c_int
        except (OSError, AttributeError):
            libc = False
        _libc = libc
    if _libc is False:
        return False
    base = memory_address(memory, context)
    size = memory.data_len(context)
    for offset, length in ranges:
        if offset < 0 or offset + length > size:
            raise ValueError("a range to populate lies outside the guest's memory")
        _libc.madvise(base + offset, length, _MADV_HUGEPAGE)  # a hint: failure is harmless
        if _libc.madvise(base + offset, length, _MADV_POPULATE_WRITE) != 0:
            return False
    return True
