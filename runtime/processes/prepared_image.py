"""The *prepared image*: the base image as a process instance sees it after
``process_main.prepare()``, kept in memory so that later processes start from it without
running ``prepare()`` again (7-18 ms of each start).

It is made once per host process and base image, by the first process instance that ran
``prepare()``, from that instance's memory: the base image's pages plus the pages
``prepare()`` changed (a few hundred KiB; the base image's pages are shared, not copied). A
restore from it then writes the pages and runs the program. An instance whose WASI state
after ``prepare()`` is not the fresh one (an fd left open) does not make an image: its
processes keep preparing on their own, as before.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from .. import snapshot as snapshot_format
from ..guest_instance import GuestInstance
from ..snapshot import PAGE, SnapshotImage

log = logging.getLogger("jupyter_sandbox.processes")

_lock = threading.Lock()
#: (base image, its prepared image); replaced when the base image changes (rebuilt).
_cached: tuple[SnapshotImage, SnapshotImage] | None = None


@dataclass(frozen=True)
class Restore:
    """What a process instance restores: ``image``, and whether it still needs prepare()."""

    image: SnapshotImage
    prepared: bool


def for_base(base: SnapshotImage) -> Restore:
    """The image a new process instance restores for ``base``."""
    with _lock:
        if _cached is not None and _cached[0] is base:
            return Restore(_cached[1], True)
    return Restore(base, False)


def remember(base: SnapshotImage, instance: GuestInstance) -> SnapshotImage | None:
    """Make the prepared image from ``instance`` (restored from ``base``, ``prepare()`` just
    run, on its own thread) unless one exists; the image, or None when not made."""
    global _cached
    with _lock:
        if _cached is not None and _cached[0] is base:
            return _cached[1]
    view = instance.memory_view()
    baseline = snapshot_format.baseline_memory()
    zero = bytes(PAGE)
    pages = dict(base.pages)
    changed = 0
    for index in range(len(view) // PAGE):
        start = index * PAGE
        current = view[start : start + PAGE].tobytes()
        written = base.pages.get(index)
        if written is not None:
            reference = bytes(written)
        elif start < len(baseline):
            reference = baseline[start : start + PAGE].tobytes()
        else:
            reference = zero
        if current != reference:
            pages[index] = current
            changed += 1
    image = SnapshotImage(dict(base.header), pages, len(view))
    with _lock:
        if _cached is None or _cached[0] is not base:
            _cached = (base, image)
        log.info("prepared process image: %d pages, %d changed by prepare()", len(pages),
                 changed)
        return _cached[1]


def forget() -> None:
    """Drop the cached image (tests; a base image that was discarded)."""
    global _cached
    with _lock:
        _cached = None


def page_ranges(image: SnapshotImage) -> list[tuple[int, int]]:
    """The image's pages as (offset, length) runs of adjacent pages (computed once)."""
    cached: list[tuple[int, int]] | None = image.extra.get("page_ranges")
    if cached is not None:
        return cached
    runs: list[list[int]] = []
    for index in sorted(image.pages):
        if runs and runs[-1][1] == index:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])
    ranges = [(first * PAGE, (end - first) * PAGE) for first, end in runs]
    image.extra["page_ranges"] = ranges
    return ranges
