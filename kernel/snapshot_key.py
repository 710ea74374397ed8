"""Where the kernel's snapshot signing key lives: beside the checkpoints and named snapshots,
in Jupyter's data directory (``sandbox/snapshot.key``), so every kernel and the
``jupyter-sandbox snapshot import`` command of one user share it (see
``runtime/snapshot_signing.py``). The server extension never needs it: snapshots are verified
by the kernel that restores them."""

from __future__ import annotations

from pathlib import Path

from jupyter_sandbox.runtime.snapshot_signing import KEY_FILE_NAME

from . import notebook_state


def snapshot_key_path() -> Path:
    return notebook_state.state_root() / KEY_FILE_NAME
