"""Named templates of the sandbox service: snapshots of running sandboxes (``GET /snapshot`` of
their kernels, so memory, files and execution count), kept as ``<name>.snap`` files
(``SNAPSHOT_SUFFIX``) in the service's data folder, from which new sandboxes start.

The server never reads a template's contents: the kernel it is restored into checks it (its
signature with the installation's snapshot key, its size against the sandbox's limits) and
refuses one that does not verify. Names follow the snapshot-name rule of ``control_protocol``
(``[A-Za-z0-9_-]``, never a path).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypedDict

from jupyter_sandbox.kernel.control_protocol import (
    MAX_SNAPSHOT_BYTES,
    SNAPSHOT_SUFFIX,
    atomic_write,
    invalid_name_message,
    is_snapshot_name,
)

from .errors import ServiceError

TEMPLATES_HINT = "GET sandbox/api/v1/templates lists the templates"


class TemplateInfo(TypedDict):
    """One template (items of ``GET /templates``, ``POST /templates``'s answer)."""

    name: str
    size: int
    created: float


class TemplateStore:
    """The templates of one server, one file each in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: object) -> Path:
        """The file of template ``name``; 400 ``bad_name`` for a name that breaks the rule."""
        if not isinstance(name, str) or not is_snapshot_name(name):
            raise ServiceError(400, invalid_name_message(name), "bad_name",
                               hint="a template name is 1-100 letters, digits, '-' or '_'")
        return self.folder / (name + SNAPSHOT_SUFFIX)

    def _info(self, path: Path) -> TemplateInfo:
        stat = path.stat()
        return {"name": path.name[:-len(SNAPSHOT_SUFFIX)], "size": stat.st_size,
                "created": stat.st_mtime}

    def free_path(self, name: object) -> Path:
        """``path(name)``, or 409 when that template exists (delete it first)."""
        path = self.path(name)
        if path.exists():
            raise ServiceError(409, f"a template named {name!r} exists",
                               hint=f"DELETE sandbox/api/v1/templates/{name} first, or choose "
                                    "another name")
        return path

    def save(self, name: str, data: bytes) -> TemplateInfo:
        """Store ``data`` as template ``name``; 409 when it exists."""
        path = self.free_path(name)
        atomic_write(path, data, mode=0o600)  # a sandbox's state: its owner's only
        return self._info(path)

    def list(self) -> list[TemplateInfo]:
        if not self.folder.is_dir():
            return []
        return [self._info(path) for path in sorted(self.folder.iterdir())
                if path.name.endswith(SNAPSHOT_SUFFIX)
                and is_snapshot_name(path.name[:-len(SNAPSHOT_SUFFIX)]) and path.is_file()]

    def load(self, name: object) -> bytes:
        """The template's bytes; 404 when there is none, 400 for a file too large to be one."""
        path = self.path(name)
        try:
            with open(path, "rb") as file:
                if os.fstat(file.fileno()).st_size > MAX_SNAPSHOT_BYTES:
                    raise ServiceError(400, f"template {name!r} is larger than any snapshot "
                                       "may be", "bad_template")
                return file.read()
        except FileNotFoundError as exc:
            raise ServiceError(404, f"no template named {name!r}", hint=TEMPLATES_HINT) from exc

    def delete(self, name: object) -> None:
        path = self.path(name)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise ServiceError(404, f"no template named {name!r}", hint=TEMPLATES_HINT) from exc
