"""The folder part of ``POST /handover``: a kernel pre-started for notebooks not yet known
becomes the kernel of one notebook, as if jupyter_server had started it for that notebook.

What a kernel started for a notebook takes from it (kernel.py), and what is redone here:

* its sandbox's ``/workspace`` shows the notebook's folder (``SandboxKernel.host_folder_mode``,
  the kernel's own setting unless the hand-over names a mode): ``Sandbox.mount_workspace``,
  which also puts the guest's working directory there;
* the kernel process's working directory is the folder and ``JPY_SESSION_NAME`` the notebook's
  path: ``control_protocol.kernel_notebook_path`` reads both, and with them the folder of the
  notebook's named snapshots (``%snapshot``), which follows unless the administrator fixed one
  (``SandboxKernel.snapshot_dir``).

The kernel never imports from the notebook's folder: the kernelspec runs Python isolated and
``kernel/__main__.py`` dropped the working directory from ``sys.path`` at start; after the
change of directory any relative entry left on ``sys.path`` would name a place in the notebook's
folder, so those are dropped too.

A checkpoint restored while no kernel ran (``pending_restore_path``) is read only by a kernel
started normally: the pool hands no kernel to a notebook that has one waiting.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from jupyter_sandbox.runtime.config import HostFolderMode
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.sandbox.workspace_mount import resolve_folder
from jupyter_sandbox.runtime.snapshot_store import SnapshotStore

from .control_protocol import (
    AWAIT_FOLDER_ENV,
    SESSION_NAME_ENV,
    kernel_notebook_path,
    named_snapshot_folder,
)

log = logging.getLogger("jupyter_sandbox.kernel.handover")


def check(host_folder: str, mode: str | None) -> tuple[Path, HostFolderMode | None]:
    """The folder (real, absolute, existing) and the mode asked for (None: the kernel's own),
    checked before anything changes; ``WorkspaceMountError``/``ValueError`` otherwise."""
    folder = resolve_folder(host_folder)
    return folder, None if mode is None else HostFolderMode(mode)


def _drop_relative_import_paths() -> None:
    """Relative ``sys.path`` entries would now resolve inside the notebook's folder."""
    sys.path[:] = [entry for entry in sys.path if entry and os.path.isabs(entry)]


def become_notebook_kernel(sandbox: Sandbox, folder: Path, mode: HostFolderMode | None,
                           notebook_path: str | None) -> Path | None:
    """Mount ``folder`` (when the mode is not ``off``), move the kernel process there and
    follow the notebook's named snapshots; returns the folder mounted, or None. Blocking:
    call from a worker thread (it waits for the guest thread)."""
    chosen = sandbox.config.host_folder_mode if mode is None else mode
    pool_snapshot_folder = named_snapshot_folder(kernel_notebook_path())
    mounted = None
    if chosen is not HostFolderMode.OFF and sandbox.config.host_folder is None:
        # (an administrator's fixed SandboxKernel.host_folder was mounted at start)
        mounted = sandbox.mount_workspace(folder, chosen)
    os.chdir(folder)
    _drop_relative_import_paths()
    if notebook_path:
        os.environ[SESSION_NAME_ENV] = notebook_path
    os.environ.pop(AWAIT_FOLDER_ENV, None)  # from now on a notebook's kernel like any other
    if sandbox.snapshots.folder == pool_snapshot_folder:  # not fixed by the administrator
        sandbox.snapshots = SnapshotStore(named_snapshot_folder(kernel_notebook_path()),
                                          sandbox.snapshots.budget)
    log.info("handed over to the notebook %s (folder %s, %s)",
             notebook_path or "(unnamed)", folder, chosen.value)
    return mounted
