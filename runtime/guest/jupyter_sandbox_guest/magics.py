"""The sandbox's own magics: ``%sandbox`` (limits, usage, mounts), ``%sandbox files``,
``%sandbox logs PID``, ``%snapshot`` and ``%pip`` (pure-Python packages, installed by the host)."""

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
        "Sandboxed Python: CPython in a WebAssembly sandbox (no host programs: its processes "
        "are sandbox instances)",
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
    processes = status.get("processes") or []
    lines.append(f"  processes   {len(processes)} running" + (":" if processes else ""))
    for info in processes:
        command = " ".join(info["argv"])
        command = command if len(command) <= 60 else command[:57] + "..."
        kind = "background" if info.get("background") else "foreground"
        lines.append(f"    {info['pid']:>6}  {command:<60} {_mib(info['memory_bytes'])}  "
                     f"{info['origin']}, {kind}")
    lines += _network_lines(status.get("network"), RECENT_CONNECTIONS)
    return "\n".join(lines)


#: Connections ``%sandbox`` lists (``%sandbox network``: all the host keeps, at most 100).
RECENT_CONNECTIONS = 10


def _network_lines(network: dict[str, Any] | None, recent: int | None) -> list[str]:
    """The network policy and the last ``recent`` connection attempts (None: all)."""
    if not network:
        return ["  network     off"]
    policy = network["policy"]
    if not policy["enabled"]:
        return ["  network     off (the administrator can turn it on with "
                "SandboxKernel.network = True)"]
    allow = ", ".join(policy["allow"]) or "every public address"
    lines = [f"  network     on: allow {allow}"]
    if policy["deny"]:
        lines.append(f"              deny {', '.join(policy['deny'])}")
    if policy.get("administrator"):
        lines.append("              (changed through the API, within the administrator's policy)")
    lines.append(f"              at most {policy['max_connections']} connections at once, "
                 f"{_mib(policy['max_bytes_per_cell'])} per cell, "
                 f"{_mib(policy['max_bytes_per_sandbox'])} per sandbox")
    connections = network.get("connections") or []
    shown = connections if recent is None else connections[-recent:]
    lines.append(f"  connections {len(connections)} recent" + (
        f", the last {len(shown)}:" if len(shown) < len(connections) else
        (":" if shown else "")))
    for record in shown:
        where = f"{record['host']}:{record['port']}"
        if record.get("address") and record["address"] != record["host"]:
            where += f" ({record['address']})"
        if record["allowed"]:
            tls = ", TLS" if record.get("tls") else ""
            lines.append(f"    allowed  {where}  sent {record['bytes_sent']:,} B, received "
                         f"{record['bytes_received']:,} B{tls}")
        else:
            lines.append(f"    refused  {where}  {record['reason']}")
    return lines


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

      %sandbox              limits, memory and workspace use, mounts, network
      %sandbox files [DIR]  the files under DIR (default: the current folder)
      %sandbox network      the network policy and every connection attempt kept
      %sandbox logs PID     the output log of a process this notebook started (what a
                            background process wrote while no cell was running goes there)
    """
    words = line.split()
    if not words or words[0] == "status":
        print(_status_text(bridge.call("status")))
    elif words[0] == "network":
        print("\n".join(_network_lines(bridge.call("status").get("network"), None)))
    elif words[0] == "files":
        print(_files_text(os.path.abspath(words[1] if len(words) > 1 else ".")))
    elif words[0] == "logs":
        _show_log(words[1:])
    else:
        from IPython.core.error import UsageError

        raise UsageError(f"unknown %sandbox command {words[0]!r}; use %sandbox, %sandbox files, "
                         "%sandbox network or %sandbox logs PID")


def _show_log(args: list[str]) -> None:
    """``%sandbox logs PID``: the process's log, stdout and stderr to the cell's own."""
    import sys

    from IPython.core.error import UsageError

    from . import processes

    if len(args) != 1 or not args[0].isdigit():
        raise UsageError("usage: %sandbox logs PID (the pids: %sandbox, or Popen.pid)")
    try:
        chunks, skipped, state = processes.log(int(args[0]))
    except ChildProcessError as error:
        raise UsageError(str(error)) from None
    if skipped:
        print(f"[the first {skipped:,} bytes of the log are left out]")
    for stream, data in chunks:
        target = sys.stderr if stream == "stderr" else sys.stdout
        target.write(data.decode("utf-8", "replace"))
    sys.stdout.flush()
    sys.stderr.flush()
    print(f"[process {args[0]}: {state}]")


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


def pip_magic(line: str) -> None:
    """Install pure-Python packages into this sandbox (the host downloads them with pip).

    Usage::

      %pip install NAME[==VERSION] ... [-r requirements.txt] [-i URL] [--extra-index-url URL]
                   [-f FOLDER_OR_URL] [--no-index] [--pre] [--no-deps] [-U] [-q]
      %pip list                 built-in and installed packages
      %pip uninstall NAME ...   remove packages installed with %pip

    Only pure-Python wheels can be added; numpy, pandas and the other built-in packages are
    already there. Installed packages are kept in snapshots and forks and count against the
    workspace quota. Paths (requirements files, wheel folders) are paths in the sandbox.
    """
    import importlib
    import shlex
    import sys

    from IPython.core.error import UsageError

    words = shlex.split(line)
    action = words[0] if words else ""
    if action == "freeze":
        action = "list"
    if action not in ("install", "uninstall", "list"):
        raise UsageError("use %pip install NAME..., %pip list or %pip uninstall NAME...")
    reply = bridge.call("pip", action=action, args=words[1:], cwd=os.getcwd())
    if "error" in reply:
        raise UsageError(reply["error"])
    site = reply.get("site")
    if site and site not in sys.path:
        sys.path.append(site)
    if action == "list":
        packages = reply.get("packages") or []
        width = max([len("Package")] + [len(p["name"]) for p in packages])
        vwidth = max([len("Version")] + [len(p["version"]) for p in packages])
        print(f"{'Package':<{width}} {'Version':<{vwidth}} Origin")
        print(f"{'-' * width} {'-' * vwidth} ---------")
        for item in packages:
            print(f"{item['name']:<{width}} {item['version']:<{vwidth}} {item['origin']}")
        return
    importlib.invalidate_caches()
    for text in reply.get("lines") or []:
        print(text)


def register(shell: Any) -> None:
    shell.register_magic_function(sandbox_magic, "line", "sandbox")
    shell.register_magic_function(snapshot_magic, "line", "snapshot")
    shell.register_magic_function(pip_magic, "line", "pip")
