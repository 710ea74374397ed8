"""The base image: a snapshot of a guest whose interpreter, IPython shell and guest shim are
already up. Every sandbox starts by restoring it (tens of milliseconds) instead of booting
(most of a second). Built by ``jupyter-sandbox warmup`` or, failing that, by the first sandbox
of the machine; keyed by everything that shapes the guest's memory at boot."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import threading
from pathlib import Path

from . import module_cache, snapshot
from .artifacts import guest_artifacts
from .guest_files import GUEST_PACKAGES, SHIM_HOST_DIR

#: Imported while building the image, so the first cell and the first traceback are fast.
WARM_IMPORTS = ("IPython.core.ultratb", "stack_data", "pygments.formatters.terminal256",
                "jedi", "asyncio")


def _shim_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(SHIM_HOST_DIR.rglob("*.py")):
        digest.update(path.relative_to(SHIM_HOST_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in GUEST_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "?"
    return versions


@functools.lru_cache(maxsize=1)
def image_key() -> str:
    blob = json.dumps({"artifact": guest_artifacts().identity, "shim": _shim_digest(),
                       "packages": _package_versions(), "format": snapshot.FORMAT_VERSION,
                       "warm": WARM_IMPORTS, "cache": module_cache.cache_key(guest_artifacts())},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def image_path() -> Path:
    return module_cache.cache_dir() / f"base-{image_key()}.snap"


_loaded_lock = threading.Lock()
_loaded: snapshot.SnapshotImage | None = None


def load() -> snapshot.SnapshotImage | None:
    """The decoded base image (kept in memory for later sandboxes of this process), or None
    when there is none yet or it is unusable (then it is removed and rebuilt later)."""
    global _loaded
    with _loaded_lock:
        if _loaded is not None:
            return _loaded
        path = image_path()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            _loaded = snapshot.decode(data)
        except snapshot.SnapshotError:
            path.unlink(missing_ok=True)
            return None
        return _loaded


def save(data: bytes) -> Path:
    path = image_path()
    snapshot.atomic_write(path, data)
    return path
