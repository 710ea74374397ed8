"""The host's files API for one sandbox: read, write, list, stat, mkdir, delete, move.

Paths are guest paths; relative ones are taken from ``/workspace``. They go through the same
virtual filesystem (and quota) as the guest's own file calls, so the API cannot reach anything
the guest could not. Operations run on the sandbox's guest thread via ``run`` so they never race
the interpreter.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import SandboxFileNotFoundError, SandboxPathError
from .vfs import FILETYPE_DIRECTORY, Quota, VirtualFS, normalize
from .wasi_errno import Errno, WasiError

log = logging.getLogger(__name__)
T = TypeVar("T")
Runner = Callable[[Callable[[], Any]], Any]
WORKSPACE = "/workspace"
_CHUNK = 1 << 20

_REASONS = {
    Errno.NOENT: "no such file or folder",
    Errno.ROFS: "read-only location",
    Errno.DQUOT: "the sandbox's workspace quota would be exceeded",
    Errno.ISDIR: "is a folder",
    Errno.NOTDIR: "not a folder",
    Errno.EXIST: "already exists",
    Errno.NOTEMPTY: "folder is not empty",
    Errno.ACCES: "leaves the sandbox",
    Errno.NAMETOOLONG: "name or path too long",
    Errno.ILSEQ: "contains a NUL byte or text that is not valid Unicode",
    Errno.XDEV: "cannot move between mounts",
    Errno.INVAL: "invalid",
}


@dataclass(frozen=True)
class FileInfo:
    path: str
    name: str
    is_dir: bool
    size: int
    mtime_ns: int


class SandboxFiles:
    """Host-side file operations inside one sandbox's filesystem."""

    def __init__(self, vfs: VirtualFS, quota: Quota, run: Runner) -> None:
        self._vfs = vfs
        self._quota = quota
        self._run = run

    def _path(self, path: str) -> str:
        if not isinstance(path, str):
            raise SandboxPathError(repr(path), "a path must be a string")
        try:
            return normalize(path, WORKSPACE)
        except WasiError as exc:
            raise SandboxPathError(path, _REASONS.get(exc.errno, exc.errno.name)) from exc

    def _do(self, path: str, func: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return func()
            except WasiError as exc:
                if exc.errno == Errno.NOENT:
                    raise SandboxFileNotFoundError(path) from exc
                raise SandboxPathError(path, _REASONS.get(exc.errno, exc.errno.name)) from exc
            except OSError as exc:
                raise SandboxPathError(path, exc.strerror or str(exc)) from exc

        return self._run(guarded)

    def stat(self, path: str) -> FileInfo:
        guest = self._path(path)
        return self._do(path, lambda: self._info(guest))

    def _info(self, guest: str) -> FileInfo:
        st = self._vfs.stat(guest)
        return FileInfo(guest, guest.rsplit("/", 1)[-1], st.filetype == FILETYPE_DIRECTORY,
                        st.size, st.mtime_ns)

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except SandboxFileNotFoundError:
            return False
        return True

    def list(self, path: str = WORKSPACE) -> list[FileInfo]:
        guest = self._path(path)

        def listing() -> list[FileInfo]:
            entries = []
            for name in self._vfs.listdir(guest):
                try:
                    entries.append(self._info(normalize(name, guest)))
                except WasiError as exc:
                    if exc.errno != Errno.ACCES:
                        raise
                    # A symlink planted in the sandbox's folder: never followed, so it has no
                    # size or kind to show; ``delete`` still removes the link itself.
                    log.warning("files API: not listing %s/%s: %s", guest, name, exc)
            return entries

        return self._do(path, listing)

    def read_bytes(self, path: str) -> bytes:
        guest = self._path(path)

        def read() -> bytes:
            fd, _ = self._vfs.open_file(guest, write=False, create=False, exclusive=False,
                                        truncate=False)
            try:
                chunks = []
                while chunk := os.read(fd, _CHUNK):
                    chunks.append(chunk)
                return b"".join(chunks)
            finally:
                os.close(fd)

        return self._do(path, read)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or replace a file. Refused whole (the old file kept) when over the quota."""
        guest = self._path(path)
        payload = bytes(data)
        self._do(path, lambda: self._vfs.write_file(guest, payload))

    def write_text(self, path: str, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(path, text.encode(encoding))

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(path).decode(encoding)

    def mkdir(self, path: str, parents: bool = False) -> None:
        guest = self._path(path)

        def make() -> None:
            if not parents:
                self._vfs.mkdir(guest)
                return
            parts = guest.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                step = "/" + "/".join(parts[:i])
                try:
                    if not self._vfs.is_dir(step):
                        raise WasiError(Errno.NOTDIR)
                except WasiError as exc:
                    if exc.errno != Errno.NOENT:
                        raise
                    self._vfs.mkdir(step)

        self._do(path, make)

    def delete(self, path: str, recursive: bool = False) -> None:
        guest = self._path(path)

        def remove(target: str) -> None:
            if not self._is_folder(target):
                self._vfs.unlink(target)
                return
            if recursive:
                for name in self._vfs.listdir(target):
                    remove(normalize(name, target))
            self._vfs.rmdir(target)

        self._do(path, lambda: remove(guest))

    def _is_folder(self, guest: str) -> bool:
        """Whether ``guest`` is a folder; False for a symlink planted in a writable layer, which
        is never followed, so that ``unlink`` removes the link itself (never its target)."""
        try:
            return self._vfs.is_dir(guest)
        except WasiError as exc:
            if exc.errno == Errno.ACCES:
                return False
            raise

    def move(self, source: str, destination: str) -> None:
        src, dst = self._path(source), self._path(destination)
        self._do(source, lambda: self._vfs.rename(src, dst))
