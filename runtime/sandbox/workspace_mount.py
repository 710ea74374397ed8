"""Giving a running sandbox its host folder at ``/workspace`` (guest thread).

Why: a pre-started ("pooled") kernel is started before anyone knows which notebook it will
serve, so its sandbox starts with a private, empty ``/workspace`` and no host folder. When it is
handed to a notebook, the notebook's folder must appear there exactly as if the sandbox had
started with it (``layout.make_mounts``): the same ``LayeredMount`` (the folder as the read-only
lower layer, resolved by ``HostLayer`` beneath its root, links never followed out; the
sandbox's private upper layer over it; ``protect_lower`` in read-only mode), and the guest's
working directory at ``/workspace``.

Nothing of what the guest did in ``/workspace`` before the hand-over may show through: its
files in the upper layer are removed and its whiteouts dropped, so the notebook sees its own
folder only; a guest that still holds files open there is refused (they would keep writing into
the removed layer). The guest's local-import support (``jupyter_sandbox_guest.local_imports``)
needs nothing more: it puts ``''`` (the working directory) on ``sys.path`` before the first
cell and makes every folder's finder list its folder again before each cell, so
``import helper`` finds ``helper.py`` of the mounted folder from the first cell on.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import HostFolderMode
from ..errors import WorkspaceMountError
from ..protocol import StartRequest
from ..vfs import LayeredMount
from .layout import WORKSPACE, writable_mounts
from .messages import ignore
from .output import Operation

if TYPE_CHECKING:
    from . import Sandbox


def resolve_folder(host_folder: str | os.PathLike[str]) -> Path:
    """The folder to mount, as an absolute real path. The path itself comes from trusted
    configuration (the Jupyter server's root folder and a notebook's folder within it), so it
    is resolved once here, as a kernel started there resolves its working directory; what is
    *inside* it is then only reached beneath it (``HostLayer``)."""
    path = Path(host_folder)
    if not path.is_absolute():
        raise WorkspaceMountError(f"the host folder to mount must be an absolute path, got "
                                  f"{str(path)!r}")
    real = Path(os.path.realpath(path))
    if not real.is_dir():
        raise WorkspaceMountError(f"the host folder to mount does not exist or is not a "
                                  f"folder: {path}")
    return real


def _workspace_mount(sandbox: Sandbox) -> tuple[int, LayeredMount]:
    for index, mount in enumerate(sandbox.vfs.mounts):
        if mount.point == WORKSPACE and isinstance(mount, LayeredMount):
            return index, mount
    raise WorkspaceMountError("this sandbox has no /workspace mount")  # never: make_mounts


def _empty_folder(folder: Path) -> None:
    """Remove everything inside ``folder`` (the sandbox's own upper layer), never following a
    symbolic link found there (``rmtree`` removes a tree without following links)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def mount(sandbox: Sandbox, host_folder: str | os.PathLike[str], mode: HostFolderMode) -> Path:
    """Show ``host_folder`` at ``/workspace`` (guest thread); returns the folder mounted.

    Raises ``WorkspaceMountError`` (and changes nothing) when the mode is ``off``, the folder
    is not an existing absolute folder, the sandbox already shows a host folder, or the guest
    holds files open under ``/workspace``.
    """
    if mode is HostFolderMode.OFF:
        raise WorkspaceMountError("host folder mode 'off' mounts nothing: use 'overlay' or "
                                  "'readonly', or do not mount a folder")
    folder = resolve_folder(host_folder)
    index, current = _workspace_mount(sandbox)
    if current.lower is not None:
        raise WorkspaceMountError(f"this sandbox already shows the host folder {current.lower} "
                                  "at /workspace; a sandbox gets its folder once (start a new "
                                  "kernel for another folder)")
    instance = sandbox._instance
    if instance is not None:
        open_here = [str(entry["path"]) for entry in instance.wasi.state.describe_fds()
                     if entry["kind"] == "file" and _in_workspace(str(entry["path"]))]
        if open_here:
            raise WorkspaceMountError(f"the sandbox still has files open in /workspace "
                                      f"({', '.join(sorted(open_here))}); a sandbox that used "
                                      "its /workspace cannot be given a host folder")
    if current.upper is not None:
        _empty_folder(Path(current.upper))
    sandbox.vfs.mounts[index] = LayeredMount(
        WORKSPACE, folder, current.upper, current.quota,
        protect_lower=mode is HostFolderMode.READONLY)
    _recount_quota(sandbox)
    sandbox.config = dataclasses.replace(sandbox.config, host_folder=folder,
                                         host_folder_mode=mode)
    if instance is not None:
        # As at a start from the base image: the guest's working directory is /workspace.
        configure: StartRequest = {"type": "configure", "env": sandbox._guest_env(),
                                   "cwd": WORKSPACE, "execution_count": sandbox.execution_count}
        sandbox._operate(configure, Operation(on_message=ignore))
    return folder


def _in_workspace(guest_path: str) -> bool:
    return guest_path == WORKSPACE or guest_path.startswith(WORKSPACE + "/")


def _recount_quota(sandbox: Sandbox) -> None:
    """What the writable layers hold now (the workspace's upper layer was emptied)."""
    quota = sandbox.quota
    quota.used_bytes = quota.used_files = 0
    for layer in writable_mounts(sandbox.vfs).values():
        if layer.upper:
            quota.count_existing(Path(layer.upper))
