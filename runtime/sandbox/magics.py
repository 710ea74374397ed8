"""The host's side of ``%snapshot`` and ``%pip`` (the guest's magics ask through ``host.call``),
and ``Sandbox.pip`` for API clients."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import PackageError, SandboxError
from ..packages import USER_SITE_GUEST_PATH
from ..protocol import ErrorAnswer, PipAnswer, SnapshotAnswer, StopReason, Unchecked
from ..snapshot_store import validate_name
from . import snapshots
from .layout import WORKSPACE
from .output import Operation

if TYPE_CHECKING:
    from . import Sandbox

log = logging.getLogger("jupyter_sandbox.sandbox")


def snapshot_request(sandbox: Sandbox, cell: Operation,
                     request: Unchecked) -> SnapshotAnswer | ErrorAnswer:
    """``%snapshot``: list and delete at once; save and restore need an empty wasm stack,
    so they are done right after the cell's turn ends (``after_cell``)."""
    action, name = str(request.get("action")), str(request.get("name") or "")
    try:
        if action == "list":
            return {"snapshots": [info.to_json() for info in sandbox.snapshots.list()]}
        if action == "delete":
            sandbox.snapshots.delete(name)
            return {"done": f"Snapshot {name!r} deleted."}
        if action in ("save", "restore"):
            if action == "restore":
                sandbox.snapshots.info(name)  # fail now if it does not exist
            else:
                validate_name(name)
                sandbox.snapshots.check_budget(name)  # the count; bytes once it is taken
            cell.after = (action, name)
            return {"scheduled": True}
    except SandboxError as exc:
        return {"error": str(exc)}
    return {"error": f"unknown snapshot action {action!r}"}


def after_cell(sandbox: Sandbox, cell: Operation) -> str | None:
    """Carry out a ``%snapshot save/restore`` the cell asked for and report it in the cell's
    output; returns the error (the cell's reply becomes an error) or None. Never raises: the
    cell always gets its reply, and a failed restore leaves the sandbox as it was."""
    if cell.after is None:
        return None
    action, name = cell.after
    cell.after = None
    error = None
    try:
        if action == "save":
            data = snapshots.snapshot_bytes(sandbox)
            info = sandbox.snapshots.save(name, data)
            text = (f"Snapshot {name!r} saved ({info.size / (1 << 20):.1f} MiB, state after "
                    f"cell [{info.execution_count}]).")
        else:
            image = sandbox._decode(sandbox.snapshots.load(name, sandbox.snapshot_bounds))
            snapshots.restore_image(sandbox, image, restore_files=True)
            text = (f"Restored snapshot {name!r}: the sandbox is back to its state after "
                    f"cell [{sandbox.execution_count}].")
    except SandboxError as exc:
        error = f"Snapshot {action} failed: {exc}"
    except Exception as exc:  # reported in the cell: the reply is never lost
        log.exception("%%snapshot %s %s failed", action, name)
        error = f"Snapshot {action} failed unexpectedly: {exc!r}"
    cell.say(error or text, "stderr" if error else "stdout")
    return error


def pip_request(sandbox: Sandbox, cell: Operation, request: Unchecked) -> PipAnswer | ErrorAnswer:
    """``%pip``: install, uninstall and list run here, inside the guest's call (the cell
    waits); pip's progress lines become the cell's output as they come."""
    action = str(request.get("action"))
    args = [str(a) for a in request.get("args") or []]
    try:
        if action == "list":
            return {"packages": [d.to_json() for d in sandbox.packages.list()],
                    "site": USER_SITE_GUEST_PATH}
        if action == "uninstall":
            return {"lines": sandbox.packages.uninstall(args)}
        if action == "install":
            cwd = str(request.get("cwd") or WORKSPACE)
            return {"lines": sandbox.packages.install(
                args, cwd, cell.say, lambda: cell.interrupt_reason is not StopReason.NONE),
                    "site": USER_SITE_GUEST_PATH}
    except PackageError as exc:
        return {"error": str(exc)}
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return {"error": f"%pip {action} failed on the host: {exc}"}
    return {"error": f"unknown %pip command {action!r}: use install, uninstall or list"}


def host_pip(sandbox: Sandbox, action: str, words: list[str],
             output: Callable[[str], None]) -> list[str]:
    """``Sandbox.pip`` (guest thread, between cells): the result lines, or ``PackageError``."""
    if action == "list":
        return [f"{d.name} {d.version} {d.origin}" for d in sandbox.packages.list()]
    if action == "uninstall":
        return sandbox.packages.uninstall(words)
    if action == "install":
        return sandbox.packages.install(words, WORKSPACE, output, lambda: sandbox.closed)
    raise PackageError(f"unknown pip action {action!r}: use install, uninstall or list")
