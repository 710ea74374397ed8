"""Every non-public wasmtime-py API we use still exists and still does what we rely on.

If this file fails after a wasmtime upgrade, update ``runtime/wasmtime_private.py``.
"""

from __future__ import annotations

import pytest
import wasmtime

from jupyter_sandbox.runtime import module_cache, wasmtime_private

# A loop that calls the host on every iteration; the host advances the engine's epoch, so each
# loop back-edge reaches the store's deadline deterministically, without timers or threads.
LOOP_WAT = """
(module
  (import "host" "tick" (func $tick))
  (global $count (mut i32) (i32.const 0))
  (func (export "spin") (param $n i32) (result i32)
    (block $done
      (loop $again
        (br_if $done (i32.ge_u (global.get $count) (local.get $n)))
        (call $tick)
        (global.set $count (i32.add (global.get $count) (i32.const 1)))
        (br $again)))
    (global.get $count))
  (func (export "count") (result i32) (global.get $count)))
"""


def test_check_passes_on_the_installed_wasmtime() -> None:
    wasmtime_private.check()


def test_check_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wasmtime_private, "_NEEDED",
                        wasmtime_private._NEEDED + ((wasmtime.Store, "no_such_private_symbol"),))
    with pytest.raises(ImportError, match="no_such_private_symbol") as info:
        wasmtime_private.check()
    assert wasmtime_private.SUPPORTED in str(info.value)
    assert "wasmtime_private.py" in str(info.value)


def test_engine_has_the_large_async_stack() -> None:
    # Without set_async_stack_size, Engine() with this max_wasm_stack aborts the process.
    assert module_cache.engine() is module_cache.engine()
    config = wasmtime.Config()
    config.max_wasm_stack = module_cache.MAX_WASM_STACK
    wasmtime_private.set_async_stack_size(config, module_cache.ASYNC_STACK)
    wasmtime.Engine(config)


class Spinner:
    """One store with the loop module and an epoch callback that calls ``decide``."""

    def __init__(self, decide) -> None:
        engine = module_cache.engine()
        self.store = wasmtime.Store(engine)
        self.store.set_epoch_deadline(1)
        self.callback = wasmtime_private.EpochCallback(self.store, decide)
        tick = wasmtime.Func(self.store, wasmtime.FuncType([], []), engine.increment_epoch)
        module = wasmtime.Module(engine, LOOP_WAT)
        self.instance = wasmtime.Instance(self.store, module, [tick])
        exports = self.instance.exports(self.store)
        self.spin = exports["spin"]
        self.count = exports["count"]


def test_epoch_callback_fires_and_the_guest_goes_on() -> None:
    calls: list[int] = []
    spinner = Spinner(lambda: calls.append(1))
    assert spinner.spin(spinner.store, 50) == 50
    # At least once per iteration's epoch tick (other stores may tick the shared engine too).
    assert len(calls) >= 49


def test_epoch_callback_traps_with_its_message() -> None:
    # A returned message ends the call with an error (GuestInstance treats it as a hard stop).
    calls: list[int] = []

    def decide() -> str | None:
        calls.append(1)
        return "stopped by the test" if len(calls) == 5 else None

    spinner = Spinner(decide)
    with pytest.raises(wasmtime.WasmtimeError, match="stopped by the test"):
        spinner.spin(spinner.store, 1000)
    assert len(calls) == 5


def test_epoch_callback_may_call_back_into_the_guest() -> None:
    seen: list[int] = []
    box: dict[str, Spinner] = {}

    def decide() -> None:
        spinner = box["spinner"]
        seen.append(spinner.count(spinner.store))  # a nested call, as the interrupt does
        return None

    box["spinner"] = Spinner(decide)
    spinner = box["spinner"]
    assert spinner.spin(spinner.store, 10) == 10
    # The nested call saw the loop's progress, and did not disturb it.
    assert len(seen) >= 9 and seen == sorted(seen) and seen[-1] <= 10


def test_epoch_callback_failure_traps_instead_of_crashing() -> None:
    def decide() -> None:
        raise RuntimeError("boom")

    spinner = Spinner(decide)
    with pytest.raises(wasmtime.WasmtimeError, match="sandbox epoch handler failed: RuntimeError"):
        spinner.spin(spinner.store, 10)


def test_memory_view_and_read_memory_see_the_guest_memory() -> None:
    store = wasmtime.Store(module_cache.engine())
    memory = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, 4)))
    memory.write(store, b"hello", 100)
    view = wasmtime_private.memory_view(memory, store)
    assert len(view) == memory.data_len(store) == 65536
    assert bytes(view[100:105]) == b"hello"
    view[200:203] = b"abc"  # writable, no copy
    assert memory.read(store, 200, 203) == b"abc"
    assert wasmtime_private.read_memory(memory, store, 100, 5) == b"hello"
    memory.grow(store, 1)  # a grown memory gets a fresh view of the new size
    assert len(wasmtime_private.memory_view(memory, store)) == 2 * 65536
