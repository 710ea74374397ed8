"""Writing a file atomically (no half-written file is ever seen under its name), with no
imports beyond the standard library, so the server extension's checkpoints can use the same
helper as the runtime's snapshot store without loading the runtime."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: into a temporary file beside it, synced, then renamed over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
