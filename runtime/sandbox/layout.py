"""Where things are in a sandbox: its mounts, the state folders behind them, the guest's
environment, and how the mounts are described to users (``%sandbox``, the status route)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import module_cache
from ..artifacts import STDLIB_GUEST_PATH, guest_artifacts
from ..config import HostFolderMode, SandboxConfig
from ..errors import SandboxError
from ..guest_files import (
    GUEST_SHIM_PATH,
    GUEST_SITE_PACKAGES,
    MPL_DATA_GUEST_PATH,
    SHIM_HOST_DIR,
    mpl_data_dir,
    package_locations,
)
from ..packages import USER_SITE_GUEST_PATH
from ..vfs import FileMount, LayeredMount, Mount, Quota, VirtualFS

WORKSPACE = "/workspace"
TMP = "/tmp"


def make_mounts(config: SandboxConfig, state_dir: Path, quota: Quota) -> list[Mount]:
    """The sandbox's filesystem: read-only stdlib, shim and packages, and the writable
    /workspace (over the host folder, if any), /tmp and the ``%pip`` site, whose changes live
    in ``state_dir`` and count against ``quota``."""
    upper_workspace = state_dir / "workspace"
    upper_tmp = state_dir / "tmp"
    upper_site = state_dir / "user-site"
    for folder in (upper_workspace, upper_tmp, upper_site):
        folder.mkdir(parents=True, exist_ok=True)
        quota.count_existing(folder)
    lower = config.host_folder if config.host_folder_mode is not HostFolderMode.OFF else None
    if lower is not None and not Path(lower).is_dir():
        raise SandboxError(f"the host folder to mount does not exist: {lower}")
    mounts: list[Mount] = [
        FileMount(STDLIB_GUEST_PATH, guest_artifacts().stdlib_zip),
        LayeredMount(MPL_DATA_GUEST_PATH, mpl_data_dir(module_cache.cache_dir()), None),
        LayeredMount(GUEST_SHIM_PATH, SHIM_HOST_DIR, None),
        LayeredMount(WORKSPACE, Path(lower) if lower else None, upper_workspace, quota,
                     protect_lower=config.host_folder_mode is HostFolderMode.READONLY),
        LayeredMount(TMP, None, upper_tmp, quota),
        # packages added with %pip (runtime/packages.py), last on the guest's sys.path
        LayeredMount(USER_SITE_GUEST_PATH, None, upper_site, quota),
    ]
    for name, host in package_locations().items():
        point = f"{GUEST_SITE_PACKAGES}/{host.name if host.is_file() else name}"
        if host.is_file():
            mounts.append(FileMount(point, host))
        else:
            mounts.append(LayeredMount(point, host, None))
    return mounts


def guest_env(config: SandboxConfig) -> dict[str, str]:
    """The guest's environment variables: the sandbox's defaults, then ``config.env``."""
    env = {
        "HOME": WORKSPACE,
        "TMPDIR": TMP,
        "MPLCONFIGDIR": f"{TMP}/.matplotlib",
        "IPYTHONDIR": f"{TMP}/.ipython",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONIOENCODING": "utf-8",
        "TERM": "xterm-256color",
    }
    env.update(config.env)
    return env


def writable_mounts(vfs: VirtualFS) -> dict[str, LayeredMount]:
    """The mounts whose changes are kept (and go into snapshots), by mount point."""
    return {m.point: m for m in vfs.mounts if isinstance(m, LayeredMount) and m.upper is not None}


def upper_folders(mounts: dict[str, LayeredMount]) -> dict[str, Path]:
    """The host folders holding each writable mount's changes."""
    return {point: Path(m.upper) for point, m in mounts.items() if m.upper}


def describe_mounts(vfs: VirtualFS) -> list[dict[str, Any]]:
    """The mounts as users see them (packages left out), sorted by path."""
    return [{"path": m.point, "writable": m.writable,
             "kind": "file" if isinstance(m, FileMount) else "folder",
             "host_folder": str(m.lower) if isinstance(m, LayeredMount) and m.lower
             and m.point == WORKSPACE else None}
            for m in sorted(vfs.mounts, key=lambda m: m.point)
            if not m.point.startswith(GUEST_SITE_PACKAGES + "/")]
