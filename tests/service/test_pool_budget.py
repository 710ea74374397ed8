"""How many kernels the warm pool starts (``KernelPool.wanted``): never more idle-or-starting
than ``pool_size``, nor more than the memory budget holds at the largest kernel size measured,
nor more than ``START_CONCURRENCY`` starting at once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from jupyter_sandbox.server_extension.service.pool import (
    DEFAULT_KERNEL_MIB,
    START_CONCURRENCY,
    KernelPool,
    PooledKernel,
)

MiB = 1 << 20


def pool(tmp_path: Path, size: int, budget_mib: int) -> KernelPool:
    """A pool with no kernel manager or control client behind it (nothing is started)."""
    no_control: Any = None
    return KernelPool({}, no_control, tmp_path, size=size, memory_budget_mib=budget_mib,
                      kernel_arguments=[], start_timeout=1, log=logging.getLogger("test"))


def fill(kernels: KernelPool, idle: int, starting: int = 0) -> None:
    kernels.idle.extend(PooledKernel(f"k{i}", f"{i:032x}", Path("/nonexistent"))
                        for i in range(idle))
    kernels.starting = starting


@pytest.mark.parametrize("size, budget, rss_mib, idle, starting, wanted", [
    (4, 0, None, 0, 0, START_CONCURRENCY),          # no budget: size and concurrency only
    (4, 0, None, 3, 0, 1),
    (4, 0, None, 2, 2, 0),                          # two already starting
    (4, 4096, None, 0, 0, START_CONCURRENCY),
    (4, 300, None, 0, 0, 300 // DEFAULT_KERNEL_MIB),  # before a kernel was measured
    (4, 300, 144, 0, 0, 2),                         # 300 MiB holds two of 144 MiB
    (4, 300, 144, 2, 0, 0),
    (4, 300, 400, 0, 0, 0),                         # not even one fits
    (0, 4096, None, 0, 0, 0),                       # off
])
def test_wanted(tmp_path: Path, size: int, budget: int, rss_mib: int | None, idle: int,
                starting: int, wanted: int) -> None:
    kernels = pool(tmp_path, size, budget)
    kernels.kernel_rss = None if rss_mib is None else rss_mib * MiB
    fill(kernels, idle, starting)
    assert kernels.wanted() == wanted


def test_take_counts_hits_and_misses_and_skips_kernels_that_are_gone(tmp_path: Path) -> None:
    kernels = pool(tmp_path, 2, 0)
    fill(kernels, 2)
    kernels.kernel_manager = {"k1": object()}  # k0 was culled or died while idle
    taken = kernels.take()
    assert taken is not None and taken.kernel_id == "k1"
    assert kernels.take() is None
    stats = kernels.stats()
    assert (stats["hits"], stats["misses"], stats["idle"]) == (1, 1, 0)
