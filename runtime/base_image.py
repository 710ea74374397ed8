"""The base image: a snapshot of a guest whose interpreter, IPython shell and guest shim are
already up. Every sandbox starts by restoring it (tens of milliseconds) instead of booting
(most of a second). Built by ``jupyter-sandbox warmup`` or, failing that, by the first sandbox
of the machine; keyed by everything that shapes the guest's memory at boot (the snapshot format
included, so an image of an older format is never read: a new one is built) and signed with
the installation's key like every snapshot (an image that does not verify is rebuilt)."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import threading
from pathlib import Path

from . import module_cache, snapshot, snapshot_signing
from .artifacts import guest_artifacts
from .errors import SnapshotError, SnapshotKeyError
from .guest_files import GUEST_PACKAGES, SHIM_HOST_DIR

log = logging.getLogger("jupyter_sandbox.base_image")

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


def key() -> bytes | None:
    """The installation's key (``snapshot_signing.default_key_path()``), which signs the base
    image; None (no base image: every sandbox boots) when it cannot be read or created."""
    try:
        return snapshot_signing.load_key()
    except SnapshotKeyError as exc:
        log.warning("no base image: %s", exc)
        return None


def image_path() -> Path:
    """The base image of this guest build, format and key. The key's public id is part of the
    name, so users sharing one cache (each with their own key) never replace each other's."""
    signing = key()
    suffix = f"-{snapshot_signing.key_id(signing)}" if signing is not None else ""
    return module_cache.cache_dir() / f"base-{image_key()}{suffix}.snap"


_loaded_lock = threading.Lock()
_loaded: snapshot.SnapshotImage | None = None


def load(bounds: snapshot.Bounds) -> snapshot.SnapshotImage | None:
    """The decoded base image (kept in memory for later sandboxes of this process), or None
    when there is none yet or it is unusable: of another format, not signed with this
    installation's key, damaged, or too large for ``bounds`` (then it is removed, unless only
    too large, and rebuilt by the next sandbox that boots)."""
    global _loaded
    signing = key()
    if signing is None:
        return None
    with _loaded_lock:
        if _loaded is not None:
            return _loaded
        path = image_path()
        try:
            data = snapshot.read_file(path, bounds)
        except FileNotFoundError:
            return None
        except (OSError, SnapshotError) as exc:
            log.warning("the base image %s cannot be read (%s): booting instead", path, exc)
            return None
        try:
            image = snapshot.decode(data, signing, bounds)
        except SnapshotError as exc:
            if isinstance(exc, snapshot.SnapshotTooLargeError):
                return None  # fine for a sandbox with larger limits: kept
            log.warning("the base image %s is unusable (%s): it is rebuilt", path, exc)
            path.unlink(missing_ok=True)
            return None
        _loaded = image
        return _loaded


_build_lock = threading.Lock()


def load_or_build(bounds: snapshot.Bounds) -> snapshot.SnapshotImage | None:
    """The base image as ``load``; when there is none yet, build it first (boot a throwaway
    sandbox with the default configuration, which saves one, as ``jupyter-sandbox warmup``
    does; a few seconds, once per machine and guest build). For whoever needs the image
    itself rather than a started sandbox: a process of a sandbox that did not write one (it
    started from a snapshot, with its own environment, or without the base image) would
    otherwise be refused until some other sandbox boots. None when no image can be had: no
    signing key, or the image there is too large for ``bounds``."""
    image = load(bounds)
    if image is not None or key() is None:
        return image
    with _build_lock:  # one build per host process; concurrent ones are only wasted work
        image = load(bounds)
        if image is not None or image_path().is_file():
            return image  # built meanwhile, or present but too large for these bounds
        from .sandbox import Sandbox

        log.info("no base image at %s: building it (booting a sandbox, a few seconds)",
                 image_path())
        with Sandbox():
            pass
        return load(bounds)


def discard(image: snapshot.SnapshotImage) -> None:
    """Forget ``image`` (and remove its file): it could not be restored."""
    global _loaded
    with _loaded_lock:
        if _loaded is image:
            _loaded = None
            image_path().unlink(missing_ok=True)


def save(data: bytes) -> Path:
    path = image_path()
    snapshot.atomic_write(path, data)
    return path
