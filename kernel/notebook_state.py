"""Where a notebook's sandbox state lives on disk, agreed between the kernel and the server
extension: named snapshots (``%snapshot``) and a checkpoint waiting to be restored by the next
kernel started for the notebook. Both sit under Jupyter's data directory, so they stay with the
user (their home volume on JupyterHub)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir

#: jupyter_server tells a kernel its notebook's path in this variable.
SESSION_NAME_ENV = "JPY_SESSION_NAME"


def state_root() -> Path:
    return Path(jupyter_data_dir()) / "sandbox"


def notebook_key(notebook_os_path: str | os.PathLike[str]) -> str:
    """A short stable key for a notebook's real location on the host (symlinks resolved), so
    the server (root folder + relative path) and the kernel (its working directory) agree,
    and two projects with a notebook of the same relative name never share state."""
    real = os.path.realpath(notebook_os_path)
    return hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def kernel_notebook_path() -> str:
    """The notebook of this kernel process: its folder is the kernel's working directory
    (jupyter_server starts kernels there) and ``JPY_SESSION_NAME`` ends with its name."""
    session = os.environ.get(SESSION_NAME_ENV) or "untitled"
    return os.path.join(os.getcwd(), os.path.basename(session))


def named_snapshot_folder(notebook_os_path: str) -> Path:
    return state_root() / "snapshots" / notebook_key(notebook_os_path)


def pending_restore_path(notebook_os_path: str) -> Path:
    """A snapshot the next kernel for this notebook starts from (then removes)."""
    return state_root() / "pending" / f"{notebook_key(notebook_os_path)}.snap"
