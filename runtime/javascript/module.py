"""The compiled QuickJS module behind ``node``, cached on disk like the Python guest's.

The ``quickjs-rs`` package (pinned in pyproject.toml) bundles ``_guest.wasm``: quickjs-ng with
rquickjs for wasm32-wasip1, exporting a fine-grained value API (``eval_code``, ``new_string``,
``get_prop``…). We use that file only: it is compiled for *our* engine (epoch interruption, the
8 MiB wasm stack) and driven by our own host (``quickjs.py``) with our own WASI, never by
quickjs-rs's Python runner, whose engine, ``define_wasi()`` and inherited stdio we do not want.

Compiling takes about half a second here, so the module is serialized once per machine with
``module_cache.load_or_compile``, keyed by the wasm file's hash and the engine settings.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path

import wasmtime

from .. import module_cache
from ..errors import JavaScriptEngineError

#: The quickjs-rs release whose ``_guest.wasm`` ABI ``quickjs.py`` speaks.
QUICKJS_RS_VERSION = "0.2.6"
CACHE_PREFIX = "quickjs"


@dataclass(frozen=True)
class QuickJSArtifact:
    wasm: Path
    sha256: str
    package_version: str

    @property
    def identity(self) -> str:
        return f"quickjs-rs-{self.package_version}-{self.sha256[:32]}"


@functools.lru_cache(maxsize=1)
def quickjs_artifact() -> QuickJSArtifact:
    """Locate quickjs-rs's bundled wasm without importing quickjs-rs (its import builds
    nothing we use). Raises ``JavaScriptEngineError`` with the fix when it is missing."""
    fix = f"install it with `pip install quickjs-rs=={QUICKJS_RS_VERSION}`"
    try:
        found = installed_version("quickjs-rs")
    except PackageNotFoundError as exc:
        raise JavaScriptEngineError(
            f"the JavaScript engine (quickjs-rs) is missing; {fix}") from exc
    if found != QUICKJS_RS_VERSION:
        raise JavaScriptEngineError(
            f"quickjs-rs {found} is installed but jupyter-sandbox speaks the guest ABI of "
            f"{QUICKJS_RS_VERSION}; {fix}")
    import importlib.util

    spec = importlib.util.find_spec("quickjs_rs")
    if spec is None or not spec.submodule_search_locations:
        raise JavaScriptEngineError(f"the quickjs_rs package cannot be found; {fix}")
    wasm = Path(next(iter(spec.submodule_search_locations))) / "_guest.wasm"
    try:
        digest = hashlib.sha256(wasm.read_bytes()).hexdigest()
    except OSError as exc:
        raise JavaScriptEngineError(f"cannot read {wasm} ({exc}); reinstall it: {fix}") from exc
    return QuickJSArtifact(wasm, digest, found)


def cache_paths() -> module_cache.CachePaths:
    return module_cache.keyed_cache_paths(CACHE_PREFIX, quickjs_artifact().identity)


_lock = threading.Lock()
_module: wasmtime.Module | None = None


def quickjs_module(progress: module_cache.Progress | None = None) -> wasmtime.Module:
    """The compiled QuickJS module for ``module_cache.engine()``: memory, disk cache, or now."""
    global _module
    with _lock:
        if _module is None:
            artifact = quickjs_artifact()

            def compile_module() -> wasmtime.Module:
                if progress:
                    progress("Compiling the JavaScript engine (QuickJS, once per machine)...")
                return wasmtime.Module(module_cache.engine(), artifact.wasm.read_bytes())

            _module = module_cache.load_or_compile(cache_paths(), compile_module, progress)
        return _module
