"""What ``%sandbox`` and the control endpoint show: limits, usage and mounts.

Guest memory is read on the guest thread only (the thread rule): there, live; from any other
thread, the size the guest thread last observed (after each turn, and at each stream-flush tick
while a cell runs), so asking for the status never waits for a running cell and never touches
a store a restore may be closing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from ..config import HostFolderMode
from .layout import describe_mounts
from .messages import Usage

if TYPE_CHECKING:
    from . import Sandbox


class StatusLimits(TypedDict):
    memory_bytes: int
    output_bytes: int
    #: Seconds; None: no time limit.
    cell_timeout: float | None
    workspace_bytes: int
    workspace_files: int


class StatusUsage(TypedDict):
    memory_bytes: int
    workspace_bytes: int
    workspace_files: int


class SandboxStatus(TypedDict):
    """``Sandbox.status()``: also the host's answer to the guest's ``{"op": "status"}``."""

    limits: StatusLimits
    usage: StatusUsage
    #: A ``HostFolderMode`` value.
    host_folder_mode: str
    mounts: list[dict[str, Any]]
    execution_count: int
    #: The cell a crash would bring the sandbox back to (None: a clean restart).
    recovery_point: int | None
    #: ``NetworkBroker.status()``: the policy, the recent connection attempts (newest last).
    network: dict[str, Any]
    #: The running processes (``ProcessInfo.to_json()``), by pid.
    processes: list[dict[str, Any]]


def memory_bytes(sandbox: Sandbox) -> int:
    """The guest's memory size, without touching the store off the guest thread."""
    instance = sandbox._instance
    if instance is None:
        return 0
    if sandbox._worker.on_guest_thread():
        return instance.memory_bytes()
    return instance.observed_memory_bytes


def status(sandbox: Sandbox) -> SandboxStatus:
    """Limits, current usage and mounts (any thread)."""
    config = sandbox.config
    limits = config.limits
    return {
        "limits": {"memory_bytes": limits.memory_bytes, "output_bytes": limits.output_bytes,
                   "cell_timeout": limits.cell_timeout,
                   "workspace_bytes": limits.workspace_bytes,
                   "workspace_files": limits.workspace_files},
        "usage": {"memory_bytes": memory_bytes(sandbox),
                  "workspace_bytes": sandbox.quota.used_bytes,
                  "workspace_files": sandbox.quota.used_files},
        "host_folder_mode": config.host_folder_mode.value
        if config.host_folder else HostFolderMode.OFF.value,
        "mounts": describe_mounts(sandbox.vfs),
        "execution_count": sandbox.execution_count,
        "recovery_point": sandbox.recovery_point(),
        "network": sandbox.network.status(),
        "processes": [info.to_json() for info in sandbox.processes.running()],
    }


def usage(sandbox: Sandbox) -> Usage:
    """Memory and workspace use against the limits; memory read on the guest thread (waits
    for a running cell, as a snapshot does)."""
    limits = sandbox.config.limits
    memory = sandbox._call(lambda: memory_bytes(sandbox))
    return Usage(memory, limits.memory_bytes, sandbox.quota.used_bytes,
                 sandbox.quota.used_files, limits.workspace_bytes, limits.workspace_files)
