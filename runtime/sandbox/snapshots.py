"""Snapshots of a running sandbox: encoding it between turns, and restoring an image into it
all or nothing (guest thread). Named snapshots, fork and start-from-snapshot build on these."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import snapshot as snapshot_format
from .. import snapshot_layers
from ..errors import SandboxClosedError, SnapshotError
from ..protocol import AfterRestoreRequest
from ..vfs import LayeredMount
from .layout import upper_folders, writable_mounts
from .messages import ignore
from .output import Operation

if TYPE_CHECKING:
    from . import Sandbox


def snapshot_bytes(sandbox: Sandbox, kind: str = "user", include_files: bool = True,
                   key: bytes | None = None) -> bytes:
    """Encode the sandbox as it is between turns (guest thread), signed with ``key``
    (default: the sandbox's snapshot key)."""
    instance = sandbox._instance
    if instance is None:
        raise SandboxClosedError()
    mounts = writable_mounts(sandbox.vfs)
    header = {
        "kind": kind,
        "execution_count": sandbox.execution_count,
        "fds": instance.wasi.state.describe_fds(),
        "whiteouts": {point: sorted(m.whiteouts) for point, m in mounts.items()},
        "monotonic_ns": instance.wasi.now_ns(1),
    }
    layers = snapshot_layers.pack(upper_folders(mounts)) if include_files else None
    return snapshot_format.encode(header, instance.memory_view(), layers,
                                  key or sandbox._snapshot_key)


def restore_image(sandbox: Sandbox, image: snapshot_format.SnapshotImage,
                  restore_files: bool) -> None:
    """Replace the running guest with ``image`` (guest thread), all or nothing.

    ``decode`` checked the header and memory against the sandbox's limits. Here the layers are
    unpacked into a staging folder (checked entry by entry as they are read), the memory is
    written into a new instance, and only then are the staged files swapped in and the new
    interpreter started; any failure puts the old files, interpreter, whiteouts and quota back
    and raises ``SnapshotError``.
    """
    limit = sandbox.config.limits.memory_bytes
    if image.memory_bytes > limit:
        raise SnapshotError(
            f"the snapshot holds {image.memory_bytes >> 20} MiB of memory, more than this "
            f"sandbox's limit of {limit >> 20} MiB")
    mounts = writable_mounts(sandbox.vfs)
    staged = None
    if restore_files and image.layers is not None:
        missing = set(image.layers.points) - set(mounts)
        if missing:
            raise SnapshotError(f"the snapshot holds files for {sorted(missing)}, which "
                                "this sandbox does not have")
        staged = snapshot_layers.stage(
            image.layers.frame, image.layers.raw_bytes, upper_folders(mounts),
            sandbox.state_dir, sandbox.snapshot_bounds.layers)
    try:
        _swap_in(sandbox, image, staged, mounts)
    finally:
        if staged is not None:
            staged.discard()
    _stop_processes(sandbox)


def _stop_processes(sandbox: Sandbox) -> None:
    """A snapshot carries no processes: those running when another state is restored are
    stopped, and the next cell says which (they belonged to the state that was left)."""
    stopped = sandbox.processes.kill_all("the sandbox was restored from a snapshot")
    if not stopped:
        return
    names = ", ".join(f"{info.pid} ({' '.join(info.argv)[:60]})" for info in stopped)
    notice = (f"[restored: the snapshot holds no processes; {len(stopped)} running process"
              f"{'es were' if len(stopped) > 1 else ' was'} stopped and not restored: {names}]")
    previous = sandbox._restart_notice
    sandbox._restart_notice = f"{previous}\n{notice}" if previous else notice


def _swap_in(sandbox: Sandbox, image: snapshot_format.SnapshotImage,
             staged: snapshot_layers.StagedLayers | None,
             mounts: dict[str, LayeredMount]) -> None:
    header = image.header
    state = sandbox._new_wasi_state()
    state.monotonic_offset_ns = max(0, int(header.get("monotonic_ns", 0)) - time.monotonic_ns())
    instance = sandbox._new_instance(state)
    try:
        snapshot_format.write_memory(instance.memory, instance.store, image)
    except BaseException:
        instance.close()
        raise
    quota = sandbox.quota
    old_instance, old_count = sandbox._instance, sandbox.execution_count
    old_whiteouts = {point: mount.whiteouts for point, mount in mounts.items()}
    old_quota = (quota.used_bytes, quota.used_files)
    try:
        if staged is not None:
            staged.swap_in(upper_folders(mounts))
            for point, mount in mounts.items():
                mount.whiteouts = set(header.get("whiteouts", {}).get(point, []))
            quota.used_bytes = quota.used_files = 0
            for mount in mounts.values():
                if mount.upper:
                    quota.count_existing(mount.upper)
        state.reopen_fds(header.get("fds", []))
        sandbox._instance = instance
        sandbox.execution_count = int(header.get("execution_count", 0))
        # The image may come from another sandbox (fork, base image, another kernel's
        # checkpoint): give the guest this sandbox's environment (kernel id, preview URL).
        after: AfterRestoreRequest = {"type": "after_restore", "env": sandbox._guest_env()}
        sandbox._operate(after, Operation(on_message=ignore))
    except BaseException as exc:
        sandbox._instance, sandbox.execution_count = old_instance, old_count
        for point, mount in mounts.items():
            mount.whiteouts = old_whiteouts[point]
        quota.used_bytes, quota.used_files = old_quota
        if staged is not None:
            staged.roll_back()
        instance.close()
        if isinstance(exc, (SnapshotError, KeyboardInterrupt, SystemExit)):
            raise
        raise SnapshotError(f"the restored interpreter did not come up ({exc}); the "
                            "sandbox is unchanged") from exc
    if staged is not None:
        staged.commit()
    if old_instance is not None:
        old_instance.close()
    # Connections are not part of a snapshot: the restored guest's sockets name ids the
    # broker no longer holds, and their next use raises ConnectionLostError.
    sandbox.network.close_all("a snapshot was restored")
