"""Writing a file atomically (no half-written file is ever seen under its name), with no
imports beyond the standard library, so the server extension's checkpoints can use the same
helper as the runtime's snapshot store and module cache without loading the runtime."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write(path: Path, data: bytes | bytearray, mode: int = 0o666) -> None:
    """Write ``data`` to ``path``: into a new temporary file beside it (created with ``mode``,
    less the umask), synced, then renamed over. On any failure the temporary file is removed
    and ``path`` is as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
