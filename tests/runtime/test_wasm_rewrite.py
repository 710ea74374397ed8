"""The export rewrite: on the real artifact, on tiny modules, and on bad input."""

from __future__ import annotations

import functools

import pytest
import wasmtime

from jupyter_sandbox.runtime import module_cache, wasm_rewrite
from jupyter_sandbox.runtime.artifacts import INTERRUPT_FUNCTION, guest_artifacts
from jupyter_sandbox.runtime.wasm_rewrite import (
    WasmRewriteError,
    add_function_export,
    exported_names,
    function_index,
)

WAT = """
(module
  (import "env" "log" (func $log (param i32)))
  (func $hidden (param i32) (result i32) local.get 0 i32.const 35 i32.add)
  (func $visible (export "visible") (result i32) i32.const 1)
  (memory (export "memory") 1))
"""


@functools.lru_cache(maxsize=1)
def real_wasm() -> bytes:
    return guest_artifacts().wasm.read_bytes()


def tiny() -> bytes:
    return wasmtime.wat2wasm(WAT)


def instantiate(data: bytes) -> tuple[wasmtime.Store, wasmtime.Instance]:
    engine = module_cache.engine()
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1 << 40)
    log = wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []), lambda x: None)
    return store, wasmtime.Instance(store, wasmtime.Module(engine, data), [log])


# -- the real artifact -------------------------------------------------------------------------

def test_real_artifact_has_the_interrupt_function_by_name() -> None:
    data = real_wasm()
    index = function_index(data, INTERRUPT_FUNCTION)
    assert index > 0
    assert INTERRUPT_FUNCTION not in exported_names(data)
    assert module_cache.INTERRUPT_EXPORT not in exported_names(data)
    rewritten = add_function_export(data, INTERRUPT_FUNCTION, module_cache.INTERRUPT_EXPORT)
    names = exported_names(rewritten)
    assert names[-1] == module_cache.INTERRUPT_EXPORT
    assert names[:-1] == exported_names(data)
    assert {"memory", "turn", "host_alloc"} <= set(names)
    assert len(rewritten) - len(data) < 64
    assert function_index(rewritten, INTERRUPT_FUNCTION) == index


def test_compiled_guest_module_exports_the_interrupt() -> None:
    exports = {e.name: e.type for e in module_cache.guest_module().exports}
    interrupt = exports[module_cache.INTERRUPT_EXPORT]
    assert isinstance(interrupt, wasmtime.FuncType)
    # int PyErr_SetInterruptEx(int signum)
    assert [str(t) for t in interrupt.params] == ["i32"]
    assert [str(t) for t in interrupt.results] == ["i32"]


# -- tiny modules ------------------------------------------------------------------------------

def test_rewrite_exports_a_hidden_function_that_works() -> None:
    data = tiny()
    assert function_index(data, "hidden") == 1  # the import comes first in the index space
    rewritten = add_function_export(data, "hidden", "exposed")
    assert exported_names(rewritten) == ["visible", "memory", "exposed"]
    store, instance = instantiate(rewritten)
    assert instance.exports(store)["exposed"](store, 7) == 42  # type: ignore[operator]
    assert instance.exports(store)["visible"](store) == 1  # type: ignore[operator]


def test_rewrite_is_idempotent() -> None:
    once = add_function_export(tiny(), "hidden", "exposed")
    assert add_function_export(once, "hidden", "exposed") is once


def test_unknown_function_name() -> None:
    with pytest.raises(WasmRewriteError, match="no function named 'nope'"):
        add_function_export(tiny(), "nope", "exposed")


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\x00asm", b"not wasm at all", b"\x00asm\x02\x00\x00\x00",
                                  b"PK\x03\x04" + bytes(100)])
def test_not_wasm(data: bytes) -> None:
    with pytest.raises(WasmRewriteError, match="not a WebAssembly"):
        add_function_export(data, "hidden", "exposed")


def test_truncated_modules_never_crash() -> None:
    data = tiny()
    for cut in range(9, len(data)):
        with pytest.raises(WasmRewriteError):
            add_function_export(data[:cut], "hidden", "exposed")


def test_truncated_real_artifact() -> None:
    data = real_wasm()
    with pytest.raises(WasmRewriteError, match="truncated"):
        add_function_export(data[: len(data) // 2], INTERRUPT_FUNCTION, "x")


def test_overlong_number() -> None:
    with pytest.raises(WasmRewriteError, match="over-long number"):
        add_function_export(wasm_rewrite.WASM_MAGIC + b"\x01" + b"\xff" * 20, "f", "x")


def test_missing_name_section() -> None:
    stripped = wasmtime.wat2wasm('(module (func (export "f") (result i32) i32.const 1))')
    # wat2wasm keeps no names for unnamed functions: drop any name section to be sure.
    with pytest.raises(WasmRewriteError, match="no 'name' custom section"):
        add_function_export(_without_custom_sections(stripped), "f", "x")


def test_missing_export_section() -> None:
    data = wasmtime.wat2wasm("(module (func $lonely))")
    assert exported_names(data) == []
    with pytest.raises(WasmRewriteError, match="no export section"):
        add_function_export(data, "lonely", "x")


def _without_custom_sections(data: bytes) -> bytes:
    view = memoryview(data)
    kept = [bytes(view[s.start : s.body_end]) for s in wasm_rewrite._sections(view) if s.kind != 0]
    return wasm_rewrite.WASM_MAGIC + b"".join(kept)
