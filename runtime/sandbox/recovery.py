"""Recovery points: while idle after a cell, the sandbox keeps its changed memory pages
(compressed) and fd table, so a cell that kills the interpreter costs only that cell (files
stay on disk anyway). ``restart_after_death`` brings the guest back from it, or starts clean."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import snapshot as snapshot_format
from . import snapshots
from .output import Operation

if TYPE_CHECKING:
    from . import Sandbox


@dataclass(frozen=True)
class RecoveryPoint:
    """Compressed memory and the fd table, taken while idle (see ``recovery_points``)."""

    header: dict[str, Any]
    packed: snapshot_format.Packed


def capture(sandbox: Sandbox) -> None:
    """Take a recovery point now (guest thread), if the sandbox keeps them."""
    sandbox._worker.idle_due = False
    instance = sandbox._instance
    if instance is None or not sandbox.config.recovery_points:
        return
    header = {"execution_count": sandbox.execution_count,
              "fds": instance.wasi.state.describe_fds(),
              "monotonic_ns": instance.wasi.now_ns(1), "taken": time.time()}
    sandbox._recovery = RecoveryPoint(header, snapshot_format.pack(instance.memory_view()))


def restart_after_death(sandbox: Sandbox, cell: Operation, why: str) -> None:
    """The interpreter died during ``cell`` (guest thread): bring it back from the recovery
    point, else start clean, and say so in the cell's output (a preview's: in the next cell)."""
    if sandbox._instance is not None:
        sandbox._instance.close()
        sandbox._instance = None
    recovery = sandbox._recovery
    if recovery is not None:
        snapshots.restore_image(sandbox, recovery.packed.image(recovery.header),
                                restore_files=False)
        age = time.time() - recovery.header["taken"]
        state = (f"It was brought back to its state after cell [{sandbox.execution_count}] "
                 f"(saved {age:.0f} s ago): this cell's changes are lost, everything "
                 "before it is kept.")
    else:
        sandbox._start(None, use_base_image=True)
        state = ("It was restarted with a clean state: variables and imports of earlier "
                 "cells are gone.")
    message = (f"The sandbox's interpreter was stopped: {why}. {state} Files in /workspace "
               "are kept.")
    cell.say(message, "stderr")
    if cell.preview:  # nobody saw it: the next cell tells the notebook
        sandbox._restart_notice = message
