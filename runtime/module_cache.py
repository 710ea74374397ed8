"""The one wasmtime ``Engine`` of this process and the compiled guest module, cached on disk.

Compiling python.wasm takes about a minute, so the compiled module is serialized once per
machine, keyed by everything that changes the machine code: the artifact hash, the wasmtime
version, the engine settings and our binary rewrite. Two processes that start cold at once take
a file lock, so only one compiles; the writer renames atomically, so a reader never sees half a
file. A sidecar records the file's size and hash; a truncated or corrupted file is recompiled
instead of being handed to wasmtime (which would trust it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path

import wasmtime

from . import wasm_rewrite, wasmtime_private
from .artifacts import INTERRUPT_FUNCTION, GuestArtifacts, guest_artifacts
from .atomic_file import atomic_write
from .errors import ModuleCacheError

CACHE_DIR_ENV = "JUPYTER_SANDBOX_CACHE_DIR"
#: Bumped whenever our rewrite of the binary changes.
REWRITE_VERSION = 1
#: The exported name of ``PyErr_SetInterruptEx`` after rewriting.
INTERRUPT_EXPORT = "jupyter_sandbox_set_interrupt"

MAX_WASM_STACK = 8 << 20
ASYNC_STACK = MAX_WASM_STACK + (2 << 20)
#: The guest thread's native stack: wasm frames plus the host's Python frames above them.
GUEST_THREAD_STACK = 64 << 20

Progress = Callable[[str], None]


def cache_dir() -> Path:
    """``$JUPYTER_SANDBOX_CACHE_DIR``, else ``$XDG_CACHE_HOME/jupyter-sandbox``."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jupyter-sandbox"


def _engine_settings() -> dict[str, object]:
    return {
        "epoch_interruption": True,
        "max_wasm_stack": MAX_WASM_STACK,
        "async_stack": ASYNC_STACK,
        "wasmtime": installed_version("wasmtime"),
        "rewrite": REWRITE_VERSION,
    }


def _make_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True
    config.max_wasm_stack = MAX_WASM_STACK
    wasmtime_private.set_async_stack_size(config, ASYNC_STACK)
    return wasmtime.Engine(config)


_engine_lock = threading.Lock()
_engine: wasmtime.Engine | None = None


def engine() -> wasmtime.Engine:
    """The process-wide engine. One per process: compiled modules are tied to its settings."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _make_engine()
        return _engine


def cache_key(artifacts: GuestArtifacts) -> str:
    """Everything that changes the compiled code, hashed."""
    blob = json.dumps({"artifacts": artifacts.identity, **_engine_settings()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CachePaths:
    module: Path
    sidecar: Path
    lock: Path


def cache_paths(artifacts: GuestArtifacts | None = None) -> CachePaths:
    return keyed_cache_paths("python", (artifacts or guest_artifacts()).identity)


def _file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def _cached_file_is_sound(paths: CachePaths) -> bool:
    """True when the cached file is the one we wrote, byte for byte.

    Hashing 300 MB costs ~0.4 s, so the hash is checked only when the file's size, mtime,
    inode or ctime differ from what was recorded at write time. Any write alters the ctime,
    even one that puts the old mtime back. (Sidecars written before the ctime was recorded
    hold three numbers; their prefix is compared.)
    """
    try:
        meta = json.loads(paths.sidecar.read_text())
        stamp = _stamp(paths.module)
        if stamp[0] != meta["size"]:
            return False
        recorded = meta["stamp"]
        if len(recorded) >= 3 and stamp[: len(recorded)] == recorded:
            return True
        return _file_digest(paths.module) == meta["blake2b"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _ticking(progress: Progress | None, what: str) -> Iterator[None]:
    """Report ``what`` with elapsed seconds every few seconds while the block runs."""
    if progress is None:
        yield
        return
    done = threading.Event()
    start = time.monotonic()

    def tick() -> None:
        while not done.wait(5.0):
            progress(f"{what}... {time.monotonic() - start:.0f}s")

    progress(f"{what} (once per machine, about a minute)...")
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        progress(f"{what}: done in {time.monotonic() - start:.1f}s")


def _compile(artifacts: GuestArtifacts, progress: Progress | None) -> wasmtime.Module:
    wasm = wasm_rewrite.add_function_export(
        artifacts.wasm.read_bytes(), INTERRUPT_FUNCTION, INTERRUPT_EXPORT
    )
    with _ticking(progress, "Compiling the Python sandbox"):
        return wasmtime.Module(engine(), wasm)


def _store(paths: CachePaths, module: wasmtime.Module) -> None:
    data = module.serialize()
    atomic_write(paths.module, data, mode=0o600)  # private to the user, as before
    meta = {
        "size": len(data),
        "stamp": _stamp(paths.module),
        "blake2b": hashlib.blake2b(data, digest_size=20).hexdigest(),
    }
    atomic_write(paths.sidecar, json.dumps(meta).encode(), mode=0o600)


_module_lock = threading.Lock()
_module: wasmtime.Module | None = None


def load_or_compile(paths: CachePaths, compile_module: Callable[[], wasmtime.Module],
                    progress: Progress | None = None) -> wasmtime.Module:
    """A module for this process's engine: deserialized from ``paths`` when the file there is
    sound, else made by ``compile_module`` and written there (under the file lock, atomically).

    Shared by every compiled module of the project (the Python guest, QuickJS for ``node``), so
    each gets the same once-per-machine, safe-under-concurrency cache."""
    try:
        with _locked(paths.lock):
            if _cached_file_is_sound(paths):
                try:
                    return wasmtime.Module.deserialize_file(engine(), str(paths.module))
                except wasmtime.WasmtimeError:
                    if progress:
                        progress("The compiled-module cache was unusable; rebuilding it.")
            module = compile_module()
            _store(paths, module)
            return module
    except OSError as exc:
        raise ModuleCacheError(
            f"cannot use the module cache in {paths.module.parent} ({exc}); set "
            f"{CACHE_DIR_ENV} to a writable folder"
        ) from exc


def keyed_cache_paths(prefix: str, identity: object) -> CachePaths:
    """Cache files ``{prefix}-{key}.cwasm/.json/.lock``; ``key`` hashes ``identity`` (what the
    wasm file is) together with this engine's settings."""
    blob = json.dumps({"artifacts": identity, **_engine_settings()}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:24]
    folder = cache_dir()
    return CachePaths(folder / f"{prefix}-{key}.cwasm", folder / f"{prefix}-{key}.json",
                      folder / f"{prefix}-{key}.lock")


def guest_module(progress: Progress | None = None) -> wasmtime.Module:
    """The compiled guest module: from memory, else from the disk cache, else compiled now."""
    global _module
    with _module_lock:
        if _module is None:
            artifacts = guest_artifacts()
            _module = load_or_compile(cache_paths(artifacts),
                                      lambda: _compile(artifacts, progress), progress)
        return _module
