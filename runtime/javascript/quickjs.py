"""One QuickJS guest: a wasmtime store and instance of quickjs-rs's ``_guest.wasm``, and its ABI.

The guest exports a value API over *handles* (i32 ids of boxed JS values): ``eval_code(ptr,
len, out) -> status``, ``new_string``, ``get_string`` (the answer waits in a one-slot result
buffer read with ``qjs_last_ptr``/``qjs_last_len``), ``type_of``, ``get_prop``, ``set_prop``,
``new_function(name)``… It imports four host functions: ``env.host_call(name, this, argc, argv)``
(a JS call of a function made by ``new_function``; the host answers with a new handle, or -1 for
a generic error), ``env.host_interrupt()`` (polled by QuickJS every few thousand operations:
non-zero throws an uncatchable "interrupted" error), and two module-loader hooks we answer "not
found". Its nine WASI imports are served by our own WASI (runtime/wasi.py) over an empty
filesystem: the guest sees no file at all; ``fs`` goes through host functions over the VFS.

Every pointer and length read from the guest is bounds-checked (``_read``). quickjs-ng built
for WASI has no native stack check, so runaway recursion traps the instance (the process ends,
nothing else does). QuickJS's own malloc limit is not enforced by this build's allocator: the
memory cap is the store's limit on linear memory, which QuickJS meets as "out of memory".
"""

from __future__ import annotations

import json
import logging
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime

from .. import module_cache
from ..vfs import VirtualFS
from ..wasi import GuestMemory, Wasi, WasiState
from ..wasi_errno import Errno, WasiError
from ..wasmtime_private import EpochCallback, memory_view, read_memory
from .module import quickjs_module

log = logging.getLogger("jupyter_sandbox.runtime.javascript")

_I32 = wasmtime.ValType.i32()
STATUS_OK = 0
STATUS_JS_ERROR = 1
HOST_CALL_ERROR = -1
#: QuickJS's recursion limit in bytes of the guest's 1 MiB shadow stack, as quickjs-rs sets it.
#: This WASI build does not check it (see the module doc: recursion traps instead); it is set
#: so that a build that does check stops well before the shadow stack runs out.
MAX_STACK_SIZE = 512 << 10

#: A JS value as the host sees it: None (undefined/null), bool, int, float, str, bytes.
JSValue = None | bool | int | float | str | bytes
#: ``(function name, arguments) -> result``: a host function's Python side. The result is a
#: JSValue, a list or dict (sent as JSON), or ``UNDEFINED``.
HostCall = Callable[[str, list[JSValue]], Any]


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()


@dataclass(frozen=True)
class JSException:
    """An uncaught JS exception: its ``name``, ``message`` and ``stack`` (None when a non-Error
    value was thrown; ``message`` is then ``String(value)``)."""

    name: str
    message: str
    stack: str | None


class GuestTrap(Exception):
    """The QuickJS instance trapped (stack overflow, hard stop, allocator abort)."""


_current = threading.local()


def _active() -> QuickJSInstance:
    """The instance whose guest code runs on this thread (set by ``QuickJSInstance._call``)."""
    instance: QuickJSInstance | None = getattr(_current, "instance", None)
    if instance is None:
        raise GuestTrap("a QuickJS import was called outside a guest call")
    return instance


class _RoutedWasi(Wasi):
    """Our WASI for the shared linker: each call serves the WASI state of the instance running
    on the calling thread, and reads that caller's own memory export."""

    def __init__(self) -> None:  # no state of its own
        self._memory = None

    def _mem(self, caller: wasmtime.Caller) -> GuestMemory:
        """The calling instance's memory, looked up per call (never cached: shared)."""
        export = caller["memory"]
        if not isinstance(export, wasmtime.Memory):
            raise WasiError(Errno.FAULT, "the guest's 'memory' export is not a memory")
        return GuestMemory(memory_view(export, caller))

    @property
    def state(self) -> WasiState:
        return _active().wasi_state

    @state.setter
    def state(self, _value: WasiState) -> None:
        raise AttributeError("the routed WASI's state is the running instance's")


def _tramp_host_call(caller: wasmtime.Caller, *args: int) -> int:
    return _active()._host_call(*args)


def _tramp_host_interrupt() -> int:
    return _active()._host_interrupt()


_linker_lock = threading.Lock()
_linker: wasmtime.Linker | None = None


def _shared_linker() -> wasmtime.Linker:
    """One linker for every QuickJS instance of the process, its imports defined once.

    wasmtime-py keeps every Python host function in one process-wide table that is not
    thread-safe (``wasmtime._func.FUNCTIONS``): defining functions per instance, while other
    threads start and close instances, could corrupt it. Defined once here, the table is never
    touched again by ``node``; the functions find their instance through ``_current``."""
    global _linker
    with _linker_lock:
        if _linker is None:
            linker = wasmtime.Linker(module_cache.engine())
            _RoutedWasi().define(linker)
            linker.define_func("env", "host_call", wasmtime.FuncType([_I32] * 5, [_I32]),
                               _tramp_host_call, access_caller=True)
            linker.define_func("env", "host_interrupt", wasmtime.FuncType([], [_I32]),
                               _tramp_host_interrupt)
            linker.define_func("env", "host_module_normalize",
                               wasmtime.FuncType([_I32] * 5, [_I32]), lambda *_args: 0)
            linker.define_func("env", "host_module_load", wasmtime.FuncType([_I32] * 3, [_I32]),
                               lambda *_args: 0)
            _linker = linker
        return _linker


class QuickJSInstance:
    """Owns one store and instance; use on one thread. ``close()`` is idempotent."""

    def __init__(self, *, memory_limit: int, on_call: HostCall,
                 should_interrupt: Callable[[], bool],
                 hard_stop: Callable[[], str | None],
                 write_output: Callable[[int, bytes], None]) -> None:
        self.store = wasmtime.Store(module_cache.engine())
        self.store.set_limits(memory_size=memory_limit)
        self.store.set_epoch_deadline(1)
        self._on_call = on_call
        self._should_interrupt = should_interrupt
        self._epoch = EpochCallback(self.store, hard_stop)
        #: What the guest's nine WASI imports see: no files, stdout/stderr to ``write_output``.
        self.wasi_state = WasiState(VirtualFS([]), ["node"], {}, write_output)
        self._closed = False
        previous = getattr(_current, "instance", None)
        _current.instance = self  # instantiation may run the guest's start code
        try:
            instance = _shared_linker().instantiate(self.store, quickjs_module())
        finally:
            _current.instance = previous
        self._exports = instance.exports(self.store)
        memory = self._exports["memory"]
        if not isinstance(memory, wasmtime.Memory):
            raise GuestTrap("the QuickJS module exports no memory")
        self.memory = memory
        self._call("set_max_stack_size", MAX_STACK_SIZE)

    # -- raw calls and memory -------------------------------------------------------------
    def _call(self, name: str, *args: int) -> int:
        func = self._exports[name]
        if not isinstance(func, wasmtime.Func):
            raise GuestTrap(f"the QuickJS module has no function {name!r}")
        previous = getattr(_current, "instance", None)
        _current.instance = self  # the imports route to this instance while it runs
        try:
            result = func(self.store, *args)
        except wasmtime.Trap as exc:
            raise GuestTrap(exc.message) from exc
        except wasmtime.WasmtimeError as exc:
            raise GuestTrap(str(exc)) from exc
        finally:
            _current.instance = previous
        return int(result) if isinstance(result, int) else 0

    def _read(self, ptr: int, length: int) -> bytes:
        ptr, length = ptr & 0xFFFFFFFF, length & 0xFFFFFFFF
        if ptr + length > self.memory.data_len(self.store):
            raise GuestTrap(f"the guest pointed outside its memory ({ptr}+{length})")
        return read_memory(self.memory, self.store, ptr, length)

    def _write_new(self, data: bytes) -> int:
        ptr = self._call("qjs_alloc", max(len(data), 1)) & 0xFFFFFFFF
        if ptr == 0:
            raise MemoryError("the JavaScript heap is full")
        if data:
            self.memory.write(self.store, data, ptr)
        return ptr

    def _free(self, ptr: int, length: int) -> None:
        self._call("qjs_free", ptr, max(length, 1))

    def _out_slot(self) -> int:
        return self._write_new(b"\0\0\0\0")

    def _take_slot(self, slot: int) -> int:
        value = int(struct.unpack("<i", self._read(slot, 4))[0])
        self._free(slot, 4)
        return value

    def _take_result(self) -> bytes:
        length = self._call("qjs_last_len")
        data = self._read(self._call("qjs_last_ptr"), length) if length else b""
        self._call("qjs_result_free")
        return data

    def _with_bytes(self, name: str, data: bytes, *args: int) -> int:
        ptr = self._write_new(data)
        try:
            return self._call(name, ptr, len(data), *args)
        finally:
            self._free(ptr, len(data))

    # -- values -------------------------------------------------------------------------
    def free_value(self, handle: int) -> None:
        self._call("free_value", handle)

    def type_of(self, handle: int) -> str:
        if self._call("type_of", handle) != STATUS_OK:
            raise GuestTrap("type_of on a dead handle")
        return self._take_result().decode()

    def get_string(self, handle: int) -> str:
        if self._call("get_string", handle) != STATUS_OK:
            return ""
        return self._take_result().decode("utf-8", "replace")

    def get_number(self, handle: int) -> float:
        slot = self._write_new(bytes(8))
        try:
            self._call("get_number", handle, slot)
            return float(struct.unpack("<d", self._read(slot, 8))[0])
        finally:
            self._free(slot, 8)

    def get_bytes(self, handle: int) -> bytes | None:
        """A Uint8Array's (or ArrayBuffer's) bytes, else None."""
        slots = [self._out_slot() for _ in range(3)]
        try:
            if self._call("get_typed_array_buffer", handle, *slots) == STATUS_OK:
                return self._take_result()
        finally:
            for slot in slots:
                self._free(slot, 4)
        if self._call("get_arraybuffer", handle) == STATUS_OK:
            return self._take_result()
        return None

    def get_prop(self, handle: int, key: str) -> int:
        slot = self._out_slot()
        data = key.encode()
        ptr = self._write_new(data)
        try:
            status = self._call("get_prop", handle, ptr, len(data), slot)
        finally:
            self._free(ptr, len(data))
        value = self._take_slot(slot)
        if status != STATUS_OK:
            raise GuestTrap(f"get_prop({key!r}) failed with status {status}")
        return value

    def set_prop(self, handle: int, key: str, value: int) -> None:
        data = key.encode()
        ptr = self._write_new(data)
        try:
            status = self._call("set_prop", handle, ptr, len(data), value)
        finally:
            self._free(ptr, len(data))
        if status != STATUS_OK:
            raise GuestTrap(f"set_prop({key!r}) failed with status {status}")

    def to_python(self, handle: int) -> JSValue:
        kind = self.type_of(handle)
        if kind in ("undefined", "null"):
            return None
        if kind == "boolean":
            slot = self._out_slot()
            self._call("get_bool", handle, slot)
            return self._take_slot(slot) != 0
        if kind == "number":
            number = self.get_number(handle)
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
        if kind == "string":
            return self.get_string(handle)
        if kind == "object":
            data = self.get_bytes(handle)
            if data is not None:
                return data
        raise TypeError(f"a host function was given a JS {kind}; pass a string, number or "
                        "Uint8Array")

    def from_python(self, value: Any) -> int:
        if value is UNDEFINED:
            return self._call("new_undefined")
        if value is None:
            return self._call("new_null")
        if isinstance(value, bool):
            return self._call("new_bool", int(value))
        if isinstance(value, int | float):
            bits = struct.unpack("<Q", struct.pack("<d", float(value)))[0]
            return self._call("new_number", bits)
        if isinstance(value, str):
            return self._with_bytes("new_string", value.encode("utf-8", "surrogatepass"))
        if isinstance(value, bytes | bytearray | memoryview):
            slot = self._out_slot()
            status = self._with_bytes("new_uint8array", bytes(value), slot)
            handle = self._take_slot(slot)
            if status != STATUS_OK:
                raise MemoryError("the JavaScript heap cannot hold the data")
            return handle
        slot = self._out_slot()
        status = self._with_bytes("new_from_json", json.dumps(value).encode(), slot)
        handle = self._take_slot(slot)
        if status != STATUS_OK:
            raise MemoryError("the JavaScript heap cannot hold the data")
        return handle

    # -- running code -------------------------------------------------------------------
    def eval(self, source: str) -> int:
        """Evaluate ``source`` as a global script; the completion value's handle. Raises
        ``JSThrow`` for an uncaught exception, ``GuestTrap`` when the instance died."""
        slot = self._out_slot()
        status = self._with_bytes("eval_code", source.encode("utf-8", "surrogatepass"), slot)
        handle = self._take_slot(slot)
        if status == STATUS_JS_ERROR:
            raise JSThrow(self._take_exception())
        if status != STATUS_OK:
            raise GuestTrap(f"eval failed with status {status}")
        return handle

    def run(self, source: str) -> None:
        """``eval`` and drop the completion value."""
        self.free_value(self.eval(source))

    def run_pending_jobs(self) -> None:
        """Run queued promise jobs (microtasks) until none is left."""
        self._call("execute_pending_jobs")

    def register(self, name: str) -> None:
        """Define ``globalThis[name]``: a function whose calls reach ``on_call(name, args)``."""
        fn = self._with_bytes("new_function", name.encode())
        glob = self._call("global_object")
        try:
            self.set_prop(glob, name, fn)
        finally:
            self.free_value(glob)
            self.free_value(fn)

    def _take_exception(self) -> JSException:
        slot = self._out_slot()
        status = self._call("last_exception", slot)
        exc = self._take_slot(slot)
        if status != STATUS_OK:
            return JSException("Error", "unknown JavaScript error", None)
        try:
            if self.type_of(exc) != "object":
                return JSException("", self._coerce(exc), None)
            fields = {}
            for key in ("name", "message", "stack"):
                value = self.get_prop(exc, key)
                try:
                    fields[key] = self.get_string(value) if self.type_of(value) == "string" \
                        else None
                finally:
                    self.free_value(value)
            if fields["name"] is None:
                return JSException("", self._coerce(exc), None)
            return JSException(fields["name"] or "Error", fields["message"] or "",
                               fields["stack"])
        finally:
            self.free_value(exc)

    def _coerce(self, handle: int) -> str:
        kind = self.type_of(handle)
        if kind == "string":
            return self.get_string(handle)
        try:
            value = self.to_python(handle)
        except TypeError:
            return f"[{kind}]"
        if value is None:
            return kind
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    # -- imports ------------------------------------------------------------------------
    def _host_call(self, name_ptr: int, name_len: int, _this: int, argc: int,
                   argv_ptr: int) -> int:
        """A JS call of a host function. Never raises: a Python exception unwinding through
        wasm frames goes through wasmtime-py's one process-wide ``LAST_EXCEPTION`` slot, which
        another thread's trap could take; so a failure is the guest's generic error (-1)."""
        try:
            if name_len & 0xFFFFFFFF > 256 or argc & 0xFFFFFFFF > 64:
                return HOST_CALL_ERROR
            name = self._read(name_ptr, name_len).decode()
            handles = struct.unpack(f"<{argc}i", self._read(argv_ptr, 4 * argc)) if argc else ()
            args = [self.to_python(h) for h in handles]
        except (GuestTrap, UnicodeDecodeError, TypeError, struct.error):
            log.debug("a malformed host call from the JavaScript guest", exc_info=True)
            return HOST_CALL_ERROR
        try:
            return self.from_python(self._on_call(name, args))
        except Exception:  # logged; the guest sees a failed call
            log.exception("a host function of the JavaScript guest failed")
            return HOST_CALL_ERROR

    def _host_interrupt(self) -> int:
        return 1 if self._should_interrupt() else 0

    def memory_bytes(self) -> int:
        return self.memory.data_len(self.store)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.store.close()


class JSThrow(Exception):
    """JS code threw and nobody caught it."""

    def __init__(self, exception: JSException) -> None:
        super().__init__(f"{exception.name}: {exception.message}")
        self.exception = exception
