"""Named snapshots on disk: one folder per owner (a notebook, a service sandbox), one file per
name. Names are restricted to ``[A-Za-z0-9_-]`` so they can never form a path.

A store has a budget (``SnapshotBudget``: how many named snapshots and how many bytes), so a
sandbox with a small quota cannot fill the host's disk through ``%snapshot save``; saving past
it is refused with what to do instead. Overwriting a name counts only the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import snapshot
from .errors import SnapshotBudgetError, SnapshotNameError, SnapshotNotFoundError
from .snapshot_names import NAME, SUFFIX, is_snapshot_name

__all__ = ["NAME", "SUFFIX", "SnapshotBudget", "SnapshotInfo", "SnapshotNameError",
           "SnapshotNotFoundError", "SnapshotStore", "validate_name"]
MiB = 1 << 20


def validate_name(name: str) -> str:
    if not is_snapshot_name(name):
        raise SnapshotNameError(str(name))
    return name


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    size: int
    created: float
    execution_count: int

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "created": self.created,
                "execution_count": self.execution_count}


@dataclass(frozen=True)
class SnapshotBudget:
    """How many named snapshots a sandbox may keep, and their total size on disk."""

    max_count: int
    max_bytes: int


_DELETE_HINT = "Delete one with `%snapshot delete NAME` (`%snapshot list` shows them)"


class SnapshotStore:
    """A folder of named snapshot files, kept within ``budget`` when one is given."""

    def __init__(self, folder: Path, budget: SnapshotBudget | None = None) -> None:
        self.folder = Path(folder)
        self.budget = budget

    def _path(self, name: str) -> Path:
        return self.folder / f"{validate_name(name)}{SUFFIX}"

    def _sizes(self) -> dict[str, int]:
        """Size of every named snapshot file (damaged ones too: they take disk all the same)."""
        if not self.folder.is_dir():
            return {}
        sizes = {}
        for path in self.folder.glob(f"*{SUFFIX}"):
            name = path.name[: -len(SUFFIX)]
            if NAME.match(name):
                try:
                    sizes[name] = path.lstat().st_size
                except FileNotFoundError:
                    continue  # deleted meanwhile
        return sizes

    def check_budget(self, name: str, size: int = 0) -> None:
        """Raise ``SnapshotBudgetError`` when saving ``size`` bytes as ``name`` would pass the
        budget (a new name past the count, or the total past the bytes)."""
        if self.budget is None:
            return
        sizes = self._sizes()
        budget = self.budget
        if name not in sizes and len(sizes) >= budget.max_count:
            raise SnapshotBudgetError(
                f"cannot save snapshot {name!r}: this sandbox already keeps {len(sizes)} named "
                f"snapshots, its limit (snapshot_max_count = {budget.max_count}). "
                f"{_DELETE_HINT}, or save under an existing name to replace it.")
        total = sum(sizes.values()) - sizes.get(name, 0) + size
        if total > budget.max_bytes:
            raise SnapshotBudgetError(
                f"cannot save snapshot {name!r} ({size / MiB:.1f} MiB): this sandbox's named "
                f"snapshots would take {total / MiB:.1f} MiB, past its limit of "
                f"{budget.max_bytes / MiB:g} MiB (snapshot_max_mib). {_DELETE_HINT} and save "
                "again.")

    def save(self, name: str, data: bytes) -> SnapshotInfo:
        """Write ``data`` as ``name`` (atomically), within the budget."""
        path = self._path(name)
        self.check_budget(name, len(data))
        snapshot.atomic_write(path, data)
        return self.info(name)

    def load(self, name: str, bounds: snapshot.Bounds | None = None) -> bytes:
        """The bytes of ``name``; with ``bounds``, a file larger than any snapshot they allow
        is refused (``SnapshotError``) before it is read."""
        path = self._path(name)
        try:
            if bounds is not None:
                return snapshot.read_file(path, bounds)
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise SnapshotNotFoundError(name) from exc

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise SnapshotNotFoundError(name) from exc

    def info(self, name: str) -> SnapshotInfo:
        path = self._path(name)
        try:
            stat = path.stat()
            with open(path, "rb") as f:
                head = f.read(1 << 16)
        except FileNotFoundError as exc:
            raise SnapshotNotFoundError(name) from exc
        header = snapshot.peek_header(head)
        try:
            created = float(header.get("created", stat.st_mtime))
            count = int(header.get("execution_count", 0))
        except (TypeError, ValueError) as exc:
            raise snapshot.SnapshotError(f"the header of snapshot {name!r} is malformed") from exc
        return SnapshotInfo(name, stat.st_size, created, count)

    def list(self) -> list[SnapshotInfo]:
        if not self.folder.is_dir():
            return []
        infos = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if NAME.match(name):
                try:
                    infos.append(self.info(name))
                except (snapshot.SnapshotError, SnapshotNotFoundError):
                    continue  # damaged or vanished meanwhile: not listed
        return sorted(infos, key=lambda i: i.created)
