"""Named snapshots on disk: one folder per owner (a notebook, a service sandbox), one file per
name. Names are restricted to ``[A-Za-z0-9_-]`` so they can never form a path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import snapshot
from .errors import SandboxError

NAME = re.compile(r"^[\w-]{1,100}$", re.ASCII)
SUFFIX = ".snap"


class SnapshotNameError(SandboxError, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"invalid snapshot name {name!r}: use 1-100 letters, digits, '_' or '-'")


class SnapshotNotFoundError(SandboxError, KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no snapshot named {name!r}; `%snapshot list` shows the saved ones")

    def __str__(self) -> str:
        return str(self.args[0])


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
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


class SnapshotStore:
    """A folder of named snapshot files."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, name: str) -> Path:
        return self.folder / f"{validate_name(name)}{SUFFIX}"

    def save(self, name: str, data: bytes) -> SnapshotInfo:
        path = self._path(name)
        snapshot.atomic_write(path, data)
        return self.info(name)

    def load(self, name: str) -> bytes:
        path = self._path(name)
        try:
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
        return SnapshotInfo(name, stat.st_size, float(header.get("created", stat.st_mtime)),
                            int(header.get("execution_count", 0)))

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
