"""The compiled-module cache: keys, soundness checks, rebuilds, and one compile under
concurrency."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from jupyter_sandbox.runtime import module_cache
from jupyter_sandbox.runtime.artifacts import guest_artifacts
from jupyter_sandbox.runtime.errors import ModuleCacheError

TINY_WAT = '(module (func (export "answer") (result i32) i32.const 42))'


def tiny_module() -> wasmtime.Module:
    return wasmtime.Module(module_cache.engine(), TINY_WAT)


def answer(module: wasmtime.Module) -> int:
    store = wasmtime.Store(module_cache.engine())
    store.set_epoch_deadline(1 << 40)
    instance = wasmtime.Instance(store, module, [])
    return instance.exports(store)["answer"](store)  # type: ignore[operator]


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty cache folder, and no module loaded in memory yet."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(module_cache.CACHE_DIR_ENV, str(folder))
    monkeypatch.setattr(module_cache, "_module", None)
    return folder


@pytest.fixture
def fake_compile(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the minute-long compile of python.wasm with a tiny module; record each call."""
    calls: list[str] = []

    def compile_tiny(artifacts, progress):
        calls.append(artifacts.identity)
        return tiny_module()

    monkeypatch.setattr(module_cache, "_compile", compile_tiny)
    return calls


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


# -- keys ---------------------------------------------------------------------------------------

def test_cache_key_changes_with_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    artifacts = guest_artifacts()
    base = module_cache.cache_key(artifacts)
    assert base == module_cache.cache_key(artifacts)  # stable
    keys = {base}
    keys.add(module_cache.cache_key(dataclasses.replace(artifacts, wasm_sha256="0" * 64)))
    keys.add(module_cache.cache_key(dataclasses.replace(artifacts, stdlib_sha256="0" * 64)))
    with monkeypatch.context() as m:
        m.setattr(module_cache, "REWRITE_VERSION", module_cache.REWRITE_VERSION + 1)
        keys.add(module_cache.cache_key(artifacts))
    with monkeypatch.context() as m:
        m.setattr(module_cache, "MAX_WASM_STACK", module_cache.MAX_WASM_STACK * 2)
        keys.add(module_cache.cache_key(artifacts))
    with monkeypatch.context() as m:
        m.setattr(module_cache, "ASYNC_STACK", module_cache.ASYNC_STACK * 2)
        keys.add(module_cache.cache_key(artifacts))
    with monkeypatch.context() as m:
        m.setattr(module_cache, "installed_version", lambda name: "49.9.9")
        keys.add(module_cache.cache_key(artifacts))
    assert len(keys) == 7
    assert module_cache.cache_key(artifacts) == base


def test_cache_paths_follow_the_environment(cache_dir: Path) -> None:
    paths = module_cache.cache_paths()
    key = module_cache.cache_key(guest_artifacts())
    assert paths.module == cache_dir / f"python-{key}.cwasm"
    assert paths.sidecar.parent == paths.lock.parent == cache_dir


# -- soundness ----------------------------------------------------------------------------------

@pytest.fixture
def stored(cache_dir: Path) -> module_cache.CachePaths:
    paths = module_cache.cache_paths()
    cache_dir.mkdir()
    module_cache._store(paths, tiny_module())
    assert module_cache._cached_file_is_sound(paths)
    return paths


def test_missing_files_are_not_sound(stored: module_cache.CachePaths) -> None:
    stored.sidecar.unlink()
    assert not module_cache._cached_file_is_sound(stored)
    stored.module.unlink()
    assert not module_cache._cached_file_is_sound(stored)


def test_truncated_file_is_not_sound(stored: module_cache.CachePaths) -> None:
    size = stored.module.stat().st_size
    os.truncate(stored.module, size // 2)
    assert not module_cache._cached_file_is_sound(stored)


def test_flipped_byte_is_not_sound_even_with_the_old_mtime(
        stored: module_cache.CachePaths) -> None:
    st = stored.module.stat()
    flip_byte(stored.module, st.st_size // 2)
    os.utime(stored.module, ns=(st.st_atime_ns, st.st_mtime_ns))  # hide the change from mtime
    assert stored.module.stat().st_size == st.st_size
    assert not module_cache._cached_file_is_sound(stored)


def test_copied_file_is_sound_by_its_hash(stored: module_cache.CachePaths) -> None:
    # A copy (backup, restore) changes inode and times but not content: hash it, keep it.
    copy = stored.module.with_suffix(".copy")
    copy.write_bytes(stored.module.read_bytes())
    os.replace(copy, stored.module)
    assert module_cache._cached_file_is_sound(stored)


@pytest.mark.parametrize("sidecar", ["", "{not json", "[]", '{"size": "x"}', "null"])
def test_broken_sidecar_is_not_sound(stored: module_cache.CachePaths, sidecar: str) -> None:
    stored.sidecar.write_text(sidecar)
    assert not module_cache._cached_file_is_sound(stored)


def test_sidecar_of_an_older_version_still_works(stored: module_cache.CachePaths) -> None:
    meta = json.loads(stored.sidecar.read_text())
    meta["stamp"] = meta["stamp"][:3]  # written before the ctime was recorded
    stored.sidecar.write_text(json.dumps(meta))
    assert module_cache._cached_file_is_sound(stored)


# -- rebuilds (the compile itself faked: the real one takes a minute) ----------------------------

def test_cold_cache_compiles_and_stores(cache_dir: Path, fake_compile: list[str]) -> None:
    module = module_cache.guest_module()
    assert answer(module) == 42
    assert fake_compile == [guest_artifacts().identity]
    assert module_cache._cached_file_is_sound(module_cache.cache_paths())
    assert module_cache.guest_module() is module  # once per process
    assert not list(cache_dir.glob("*.tmp"))


def test_warm_cache_is_loaded_without_compiling(stored: module_cache.CachePaths,
                                                fake_compile: list[str]) -> None:
    assert answer(module_cache.guest_module()) == 42
    assert fake_compile == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage-with-valid-sidecar"])
def test_damaged_cache_is_rebuilt(stored: module_cache.CachePaths, fake_compile: list[str],
                                  damage: str) -> None:
    if damage == "truncate":
        os.truncate(stored.module, 100)
    elif damage == "flip":
        flip_byte(stored.module, 64)
    else:
        # The sidecar vouches for the file, but wasmtime cannot read it: still no crash.
        garbage = b"\x7fELF" + b"\x00garbage" * 1000
        stored.module.write_bytes(garbage)
        stored.sidecar.write_text(json.dumps({
            "size": len(garbage), "stamp": module_cache._stamp(stored.module),
            "blake2b": module_cache._file_digest(stored.module)}))
    said: list[str] = []
    module = module_cache.guest_module(progress=said.append)
    assert answer(module) == 42
    assert len(fake_compile) == 1
    assert module_cache._cached_file_is_sound(stored)
    if damage == "garbage-with-valid-sidecar":
        assert said == ["The compiled-module cache was unusable; rebuilding it."]


def test_unwritable_cache_folder_gives_a_clear_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     fake_compile: list[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(module_cache.CACHE_DIR_ENV, str(blocker / "cache"))
    monkeypatch.setattr(module_cache, "_module", None)
    with pytest.raises(ModuleCacheError, match=module_cache.CACHE_DIR_ENV):
        module_cache.guest_module()
    assert fake_compile == []


# -- the real thing: two cold processes, one compile ---------------------------------------------

_LOADER = """
import sys, time
from jupyter_sandbox.runtime import module_cache
start = time.monotonic()
module = module_cache.guest_module(progress=lambda line: print("progress:", line, flush=True))
print("exports:", len(module.exports), "seconds:", round(time.monotonic() - start, 1), flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_cold_processes_compile_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, module_cache.CACHE_DIR_ENV: str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", _LOADER], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=850)
        assert proc.returncode == 0, err
        outputs.append(out)
    compiles = [line for out in outputs for line in out.splitlines()
                if line.startswith("progress: Compiling the Python sandbox (once per machine")]
    assert len(compiles) == 1, outputs
    assert all("exports:" in out for out in outputs)
    cwasm = list(cache.glob("python-*.cwasm"))
    assert len(cwasm) == 1 and not list(cache.glob("*.tmp"))
    env_paths = module_cache.CachePaths(cwasm[0], cwasm[0].with_suffix(".json"),
                                        cwasm[0].with_suffix(".lock"))
    assert module_cache._cached_file_is_sound(env_paths)
    # The real artifact: one flipped byte in the middle is caught (by its hash).
    flip_byte(cwasm[0], cwasm[0].stat().st_size // 2)
    assert not module_cache._cached_file_is_sound(env_paths)
