"""The sandbox's own magics: ``%sandbox`` (limits, usage, mounts) and ``%sandbox files``."""

from __future__ import annotations

import os
from typing import Any

from . import bridge

MiB = 1 << 20


def _mib(n: int) -> str:
    return f"{n / MiB:,.1f} MiB"


def _status_text(status: dict[str, Any]) -> str:
    limits, usage = status["limits"], status["usage"]
    timeout = f"{limits['cell_timeout']:g} s" if limits.get("cell_timeout") else "none"
    lines = [
        "Sandboxed Python: CPython in a WebAssembly sandbox (no network, no processes)",
        f"  memory      {_mib(usage['memory_bytes'])} used of {_mib(limits['memory_bytes'])}",
        f"  workspace   {_mib(usage['workspace_bytes'])} of {_mib(limits['workspace_bytes'])}, "
        f"{usage['workspace_files']} of {limits['workspace_files']} files",
        f"  cell time   {timeout}",
        f"  output      {_mib(limits['output_bytes'])} per cell",
        f"  host folder {status['host_folder_mode']}",
        "  mounts:",
    ]
    for mount in status["mounts"]:
        access = "read-write" if mount["writable"] else "read-only"
        origin = f"  (notebook folder {mount['host_folder']})" if mount.get("host_folder") else ""
        lines.append(f"    {mount['path']:<55} {access}{origin}")
    return "\n".join(lines)


def _files_text(folder: str) -> str:
    lines = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        depth = root[len(folder):].count("/")
        indent = "  " * depth
        if root != folder:
            lines.append(f"{indent[:-2]}{os.path.basename(root)}/")
        for name in sorted(files):
            size = os.stat(os.path.join(root, name)).st_size
            lines.append(f"{indent}{name}  ({size:,} bytes)")
    return "\n".join(lines) or f"{folder} is empty"


def sandbox_magic(line: str) -> None:
    """Show the sandbox's limits, usage and mounts.

    Usage::

      %sandbox              limits, memory and workspace use, mounts
      %sandbox files [DIR]  the files under DIR (default: the current folder)
    """
    words = line.split()
    if not words or words[0] == "status":
        print(_status_text(bridge.call("status")))
    elif words[0] == "files":
        print(_files_text(os.path.abspath(words[1] if len(words) > 1 else ".")))
    else:
        from IPython.core.error import UsageError

        raise UsageError(f"unknown %sandbox command {words[0]!r}; use %sandbox or %sandbox files")


def snapshot_magic(line: str) -> None:
    """Save, list, restore and delete whole-sandbox snapshots.

    Usage::

      %snapshot save [NAME]     after this cell: save memory, open files and workspace files
      %snapshot list            the saved snapshots
      %snapshot restore NAME    after this cell: go back to the snapshot's state
      %snapshot delete NAME

    Save and restore happen when the cell has finished (a snapshot is taken between cells).
    """
    import time

    from IPython.core.error import UsageError

    words = line.split()
    action = words[0] if words else "list"
    if action not in ("save", "list", "restore", "delete"):
        raise UsageError(f"unknown %snapshot action {action!r}: use save, list, restore or delete")
    if action == "save":
        name = words[1] if len(words) > 1 else time.strftime("snapshot-%Y%m%d-%H%M%S")
    elif action in ("restore", "delete"):
        if len(words) < 2:
            raise UsageError(f"%snapshot {action} needs a NAME; `%snapshot list` shows them")
        name = words[1]
    else:
        name = ""
    reply = bridge.call("snapshot", action=action, name=name)
    if "error" in reply:
        raise UsageError(reply["error"])
    if action == "list":
        snapshots = reply.get("snapshots") or []
        if not snapshots:
            print("No snapshots yet: `%snapshot save NAME` makes one.")
        for item in snapshots:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item["created"]))
            print(f"{item['name']:<30} {_mib(item['size']):>12}  {when}  after cell "
                  f"[{item['execution_count']}]")
    elif "done" in reply:
        print(reply["done"])


def register(shell: Any) -> None:
    shell.register_magic_function(sandbox_magic, "line", "sandbox")
    shell.register_magic_function(snapshot_magic, "line", "snapshot")
