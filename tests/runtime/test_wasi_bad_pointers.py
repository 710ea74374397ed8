"""Hostile guest code: WASI calls with pointers and lengths outside linear memory get EFAULT,
not a trap that would kill the interpreter."""

from __future__ import annotations

import pytest
import wasmtime

from jupyter_sandbox.runtime import module_cache
from jupyter_sandbox.runtime.vfs import VirtualFS
from jupyter_sandbox.runtime.wasi import Wasi, WasiState
from jupyter_sandbox.runtime.wasi_errno import Errno

WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "write_far") (result i32)
    (call $write (i32.const 1) (i32.const 0xFFFFFF00) (i32.const 1) (i32.const 0)))
  (func (export "iovec_past_end") (result i32)
    (i32.store (i32.const 0) (i32.const 65530))
    (i32.store (i32.const 4) (i32.const 4096))
    (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
  (func (export "random_too_long") (result i32)
    (call $random (i32.const 65000) (i32.const 100000)))
  (func (export "open_far_path") (result i32)
    (call $open (i32.const 3) (i32.const 0) (i32.const 0x7FFFFFF0) (i32.const 64) (i32.const 0)
                (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0))))"""


@pytest.fixture(scope="module")
def guest():
    engine = module_cache.engine()
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1 << 40)
    written: list[bytes] = []
    wasi = Wasi(WasiState(VirtualFS([]), ["guest"], {}, lambda _fd, data: written.append(data)))
    linker = wasmtime.Linker(engine)
    wasi.define(linker)
    linker.define_unknown_imports_as_traps(wasmtime.Module(engine, WAT))
    instance = linker.instantiate(store, wasmtime.Module(engine, WAT))
    exports = instance.exports(store)
    wasi.attach(exports["memory"])
    yield store, exports, written
    store.close()


@pytest.mark.parametrize("call", ["write_far", "iovec_past_end", "random_too_long",
                                  "open_far_path"])
def test_out_of_bounds_pointers_are_efault(guest, call):
    store, exports, written = guest
    assert exports[call](store) == int(Errno.FAULT)
    assert written == []
