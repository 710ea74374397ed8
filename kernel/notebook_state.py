"""Where a notebook's sandbox state lives on disk: named snapshots (``%snapshot``) and a
checkpoint waiting to be restored by the next kernel started for the notebook. The server
extension agrees on these paths with the kernel, so they are defined in ``control_protocol``
(the one kernel module the server imports); this module names them for the kernel's side."""

from __future__ import annotations

from .control_protocol import (
    SESSION_NAME_ENV,
    kernel_notebook_path,
    named_snapshot_folder,
    notebook_key,
    pending_restore_path,
    state_root,
)

__all__ = ["SESSION_NAME_ENV", "kernel_notebook_path", "named_snapshot_folder", "notebook_key",
           "pending_restore_path", "state_root"]
