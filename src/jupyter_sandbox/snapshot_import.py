"""``jupyter-sandbox snapshot import FILE``: make a snapshot from elsewhere usable here.

Snapshots are signed with the installation's key (``runtime/snapshot_signing.py``), and a file
that does not verify is refused by every restore: one from another machine, another user, or a
file that was replaced. When the user trusts such a file, importing it checks every part as a
restore would — header, sizes against the bounds given, every frame decompressed with a bound,
the layers parsed entry by entry — without running or unpacking anything, then signs it with
the key kernels use (Jupyter's data dir, ``sandbox/snapshot.key``) or the one given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20


@dataclass(frozen=True)
class ImportBounds:
    """The most a snapshot being imported may hold (a restore checks its own limits again)."""

    memory_mib: int = 4096
    files_mib: int = 16384
    max_files: int = 200_000


def default_key_file() -> Path:
    """The key every Sandboxed Python kernel of this user signs and checks with."""
    from jupyter_sandbox.kernel.snapshot_key import snapshot_key_path

    return snapshot_key_path()


def target_path(source: Path, name: str | None, folder: Path | None) -> Path:
    """Where the imported snapshot goes: ``folder/NAME.snap``; without either, ``source``
    itself (signed in place); a missing NAME is the file's stem, a missing folder its own."""
    from jupyter_sandbox.runtime.snapshot_store import SUFFIX, validate_name

    if name is None and folder is None:
        return source
    chosen = validate_name(name if name is not None else source.stem)
    return (folder if folder is not None else source.parent) / f"{chosen}{SUFFIX}"


def import_snapshot(source: Path, target: Path, key_file: Path | None = None,
                    bounds: ImportBounds = ImportBounds()) -> Path:
    """Check ``source`` completely and write it, signed with ``key_file``'s key, to
    ``target``. Raises ``SnapshotError`` saying what is wrong; nothing is written then."""
    from jupyter_sandbox.runtime import snapshot, snapshot_signing

    limits = snapshot.Bounds.of(bounds.memory_mib * MiB, bounds.files_mib * MiB,
                                bounds.max_files)
    key = snapshot_signing.load_key(key_file if key_file is not None else default_key_file())
    signed = snapshot.resign(snapshot.read_file(source, limits), key, limits)
    snapshot.atomic_write(target, signed)
    return target
