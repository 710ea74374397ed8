"""Issue 12, item 8 (WASI): hostile guest code calls WASI functions directly with huge lengths
and counts. Each call must end with an errno or a short result, the host allocating nothing
in proportion to what the guest asked for (measured with ``tracemalloc``).

The guest is a small WebAssembly module whose exports pass their arguments straight to our
WASI functions (as ``tests/runtime/test_wasi_bad_pointers.py`` does), with 16 MiB of memory
the test fills through ``Memory.write``."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

from jupyter_sandbox.runtime import module_cache
from jupyter_sandbox.runtime.vfs import LayeredMount, Quota, VirtualFS
from jupyter_sandbox.runtime.wasi import MAX_STDIO_WRITE, Wasi, WasiState
from jupyter_sandbox.runtime.wasi_errno import Errno

MiB = 1 << 20
PAGES = 256  # 16 MiB of guest memory
MEMORY = PAGES * 64 * 1024
#: What the host may allocate for one call, whatever the guest asked for.
ALLOCATION_BOUND = 4 * MiB

WAT = f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread"
    (func $pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") {PAGES})
  (func (export "write") (param i32 i32 i32 i32) (result i32)
    (call $write (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "read") (param i32 i32 i32 i32) (result i32)
    (call $read (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "pread") (param i32 i32 i32 i64 i32) (result i32)
    (call $pread (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "random") (param i32 i32) (result i32)
    (call $random (local.get 0) (local.get 1)))
  (func (export "open") (param i32 i32 i32 i64 i32) (result i32)
    (call $open (i32.const 3) (i32.const 0) (local.get 0) (local.get 1) (local.get 2)
                (local.get 3) (i64.const 0) (i32.const 0) (local.get 4)))
  (func (export "mkdir") (param i32 i32) (result i32)
    (call $mkdir (i32.const 3) (local.get 0) (local.get 1)))
  (func (export "poll") (param i32 i32 i32 i32) (result i32)
    (call $poll (local.get 0) (local.get 1) (local.get 2) (local.get 3))))"""

RIGHT_FD_READ, RIGHT_FD_WRITE = 1 << 1, 1 << 6
IOVECS = 4096  # where the iovec arrays go
RESULT = 0  # where results (nwritten, fd, ...) go


@dataclass
class Guest:
    store: wasmtime.Store
    exports: wasmtime.InstanceExports
    written: list[bytes]
    folder: Path

    def call(self, name: str, *args: int) -> int:
        return self.exports[name](self.store, *args)

    def poke(self, address: int, data: bytes) -> None:
        self.exports["memory"].write(self.store, data, address)

    def u32(self, address: int) -> int:
        return struct.unpack("<I", self.exports["memory"].read(self.store, address, address + 4))[0]

    def iovecs(self, vectors: list[tuple[int, int]]) -> int:
        self.poke(IOVECS, b"".join(struct.pack("<II", ptr, length) for ptr, length in vectors))
        return IOVECS


@pytest.fixture
def guest(tmp_path) -> Iterator[Guest]:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    (lower / "big.bin").write_bytes(b"z" * (20 * MiB))
    engine = module_cache.engine()
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1 << 40)
    written: list[bytes] = []
    quota = Quota(64 * MiB, 100)
    vfs = VirtualFS([LayeredMount("/data", lower, upper, quota)])
    wasi = Wasi(WasiState(vfs, ["guest"], {}, lambda _fd, data: written.append(data)))
    linker = wasmtime.Linker(engine)
    wasi.define(linker)
    module = wasmtime.Module(engine, WAT)
    instance = linker.instantiate(store, module)
    exports = instance.exports(store)
    wasi.attach(exports["memory"])
    yield Guest(store, exports, written, upper)
    wasi.state.close_all()
    store.close()


def peak_allocation(call: Callable[[], int]) -> tuple[int, int]:
    """``call()``'s result and the most the host allocated (Python objects) meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return result, peak


def test_stdout_write_of_16_gib_is_a_short_write(guest):
    """1024 iovecs, each the whole 16 MiB memory: the old code joined 16 GiB first."""
    iovs = guest.iovecs([(0, MEMORY)] * 1024)
    result, peak = peak_allocation(lambda: guest.call("write", 1, iovs, 1024, RESULT))
    assert result == 0
    assert guest.u32(RESULT) == MAX_STDIO_WRITE
    assert sum(map(len, guest.written)) == MAX_STDIO_WRITE
    assert peak < ALLOCATION_BOUND


@pytest.mark.parametrize("count", [1025, 0x7FFFFFFF, 0xFFFFFFFF])
def test_more_iovecs_than_iov_max_is_einval(guest, count):
    result, peak = peak_allocation(lambda: guest.call("write", 1, 0, count, RESULT))
    assert result == int(Errno.INVAL)
    assert guest.written == []
    assert peak < ALLOCATION_BOUND


def _open(guest: Guest, path: str, rights: int) -> int:
    raw = path.encode()
    guest.poke(8192, raw)
    create = 1 if rights & RIGHT_FD_WRITE else 0  # OFLAG_CREAT
    assert guest.call("open", 8192, len(raw), create, rights, RESULT) == 0
    return guest.u32(RESULT)


def test_file_write_goes_from_guest_memory_without_copies(guest):
    fd = _open(guest, "/data/out.bin", RIGHT_FD_WRITE)
    guest.poke(1 * MiB, b"a" * (8 * MiB))
    iovs = guest.iovecs([(1 * MiB, 4 * MiB), (5 * MiB, 4 * MiB)])
    result, peak = peak_allocation(lambda: guest.call("write", fd, iovs, 2, RESULT))
    assert result == 0 and guest.u32(RESULT) == 8 * MiB
    assert (guest.folder / "out.bin").read_bytes() == b"a" * (8 * MiB)
    assert peak < ALLOCATION_BOUND


def test_file_write_past_the_quota_is_refused_before_writing(guest):
    fd = _open(guest, "/data/huge.bin", RIGHT_FD_WRITE)
    iovs = guest.iovecs([(0, MEMORY)] * 8)  # 128 MiB into a 64 MiB quota
    result, peak = peak_allocation(lambda: guest.call("write", fd, iovs, 8, RESULT))
    assert result == int(Errno.DQUOT)
    assert (guest.folder / "huge.bin").stat().st_size == 0
    assert peak < ALLOCATION_BOUND


def test_reads_go_straight_into_guest_memory(guest):
    fd = _open(guest, "/data/big.bin", RIGHT_FD_READ)
    iovs = guest.iovecs([(0x100000, MEMORY - 0x100000)] * 1024)  # asks for ~15 GiB
    result, peak = peak_allocation(lambda: guest.call("read", fd, iovs, 1024, RESULT))
    assert result == 0
    assert guest.u32(RESULT) == 20 * MiB  # the whole file, nothing more
    assert peak < ALLOCATION_BOUND
    result, peak = peak_allocation(lambda: guest.call("pread", fd, iovs, 1024, 0, RESULT))
    assert result == 0 and guest.u32(RESULT) == 20 * MiB
    assert peak < ALLOCATION_BOUND


def test_read_with_an_iovec_outside_memory_is_efault(guest):
    fd = _open(guest, "/data/big.bin", RIGHT_FD_READ)
    iovs = guest.iovecs([(0x100000, 0xFFFFFFFF)])
    result, peak = peak_allocation(lambda: guest.call("read", fd, iovs, 1, RESULT))
    assert result == int(Errno.FAULT)
    assert peak < ALLOCATION_BOUND


@pytest.mark.parametrize("length", [0xFFFFFFFF, 0x7FFFFFFF, MEMORY + 1])
def test_random_get_beyond_memory_is_efault_without_random_bytes(guest, length):
    result, peak = peak_allocation(lambda: guest.call("random", 0, length))
    assert result == int(Errno.FAULT)
    assert peak < 64 * 1024


def test_random_get_of_all_memory_fills_it_in_pieces(guest):
    result, peak = peak_allocation(lambda: guest.call("random", 0, MEMORY))
    assert result == 0
    assert peak < ALLOCATION_BOUND
    sample = guest.exports["memory"].read(guest.store, MEMORY - 4096, MEMORY)
    assert len(set(sample)) > 100  # random, not left zero


@pytest.mark.parametrize("length", [4097, MEMORY, 0xFFFFFFFF])
def test_path_longer_than_path_max_is_enametoolong(guest, length):
    result, peak = peak_allocation(lambda: guest.call("mkdir", 0, length))
    assert result == int(Errno.NAMETOOLONG)
    assert list(guest.folder.iterdir()) == []
    assert peak < 64 * 1024


@pytest.mark.parametrize("count", [4097, 0x7FFFFFFF, 0xFFFFFFFF])
def test_poll_with_too_many_subscriptions_is_einval(guest, count):
    result, peak = peak_allocation(lambda: guest.call("poll", 0, 0, count, RESULT))
    assert result == int(Errno.INVAL)
    assert peak < 64 * 1024
