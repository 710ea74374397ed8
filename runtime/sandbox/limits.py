"""Lowering the limits of a running sandbox (guest thread), e.g. when a pre-started sandbox is
handed over to a user who asked for less than the pool's maximum.

Only lowering: a running sandbox was started, and its snapshots signed, under its current
limits, and an administrator's ceiling must never be raised by a later request. Each new limit
takes effect at once where it lives:

* memory: the wasmtime store's limit (``Store.set_limits`` may be called again on a live
  store; the next ``memory.grow`` past it fails, so the guest sees ``MemoryError``), and the
  config every later instance (restore, recovery, processes) is made with. Linear memory never
  shrinks, so a limit below the memory the guest already has is refused;
* workspace bytes and files: the ``Quota`` shared by every writable layer (refused below what
  is already used);
* cell time: read by each cell when it starts (a running cell keeps its deadline);
* output per cell: read by each operation when it starts.

Also updates ``snapshot_bounds``, so a snapshot restored later must fit the new limits.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .. import snapshot as snapshot_format
from ..config import Limits
from ..errors import LimitRaiseError

if TYPE_CHECKING:
    from . import Sandbox

MiB = 1 << 20


def lowered(current: Limits, used_memory: int, used_bytes: int, used_files: int, *,
            memory_bytes: int | None = None, workspace_bytes: int | None = None,
            workspace_files: int | None = None, cell_timeout: float | None = None,
            output_bytes: int | None = None) -> Limits:
    """``current`` with the given limits lowered (``None``: unchanged); ``LimitRaiseError``
    when one would rise or fall below what is used, ``ValueError`` for an invalid value."""
    def at_most(name: str, value: int | None, ceiling: int, used: int, unit: str) -> None:
        if value is None:
            return
        if value > ceiling:
            raise LimitRaiseError(name, f"{value} {unit} is above the current {ceiling}")
        if value < used:
            raise LimitRaiseError(name, f"{value} {unit} is below the {used} already used")

    at_most("memory limit", memory_bytes, current.memory_bytes, used_memory, "bytes")
    at_most("workspace quota", workspace_bytes, current.workspace_bytes, used_bytes, "bytes")
    at_most("workspace file limit", workspace_files, current.workspace_files, used_files,
            "files")
    at_most("output limit", output_bytes, current.output_bytes, 0, "bytes")
    if (cell_timeout is not None and current.cell_timeout is not None
            and cell_timeout > current.cell_timeout):
        raise LimitRaiseError("cell timeout", f"{cell_timeout:g} s is above the current "
                              f"{current.cell_timeout:g} s")
    def pick(value: int | None, now: int) -> int:
        return now if value is None else value

    return dataclasses.replace(  # Limits.__post_init__ checks the values
        current, memory_bytes=pick(memory_bytes, current.memory_bytes),
        workspace_bytes=pick(workspace_bytes, current.workspace_bytes),
        workspace_files=pick(workspace_files, current.workspace_files),
        output_bytes=pick(output_bytes, current.output_bytes),
        cell_timeout=current.cell_timeout if cell_timeout is None else cell_timeout)


def lower(sandbox: Sandbox, *, memory_bytes: int | None = None,
          workspace_bytes: int | None = None, workspace_files: int | None = None,
          cell_timeout: float | None = None, output_bytes: int | None = None) -> Limits:
    """Apply lowered limits to the running sandbox (guest thread); returns the new limits."""
    instance = sandbox._instance
    # The sandbox's processes hold part of the memory limit (runtime/processes/memory.py).
    used_memory = (instance.memory_bytes() if instance is not None else 0) + (
        sandbox.processes.budget.held())
    quota = sandbox.quota
    new = lowered(sandbox.config.limits, used_memory, quota.used_bytes, quota.used_files,
                  memory_bytes=memory_bytes, workspace_bytes=workspace_bytes,
                  workspace_files=workspace_files, cell_timeout=cell_timeout,
                  output_bytes=output_bytes)
    sandbox.processes.set_memory_limit(new.memory_bytes)  # the notebook's: less the processes'
    quota.max_bytes = new.workspace_bytes
    quota.max_files = new.workspace_files
    sandbox.config = dataclasses.replace(sandbox.config, limits=new)
    sandbox.snapshot_bounds = snapshot_format.Bounds.of(
        new.memory_bytes, new.workspace_bytes, new.workspace_files)
    return new
