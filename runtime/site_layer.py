"""The sandbox's ``user-site`` layer on the host, read and changed without following links.

The folder is writable by the sandbox (and can come from a snapshot file), so whatever is in
it is hostile data: a ``.dist-info`` may be a symlink to a host folder, a package folder a
symlink to ``/``, a ``METADATA`` a FIFO. Every operation here reaches the folder holding its
path's last name beneath the layer's root without following any link (``HostLayer`` with
``inner_links=False``: ``openat2`` with ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS``, or one
component at a time with ``O_NOFOLLOW``), and acts with ``dir_fd`` on the last name, so a link
is only ever seen (and removed) as a link, never followed out of the layer. Nothing here imports
or runs anything from the layer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from .host_layer import HostLayer
from .wasi_errno import WasiError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeSitePath(ValueError):
    """A relative path that is not a plain path inside the layer (``..``, absolute, NUL)."""


def components(rel: str) -> list[str]:
    """The names of a path relative to the layer; raises ``UnsafeSitePath`` for anything that
    could leave it."""
    if not rel or rel.startswith("/") or "\x00" in rel or "\\" in rel:
        raise UnsafeSitePath(rel)
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafeSitePath(rel)
    return parts


class SiteLayer:
    """One sandbox's site layer folder (``root``, created by the host)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._beneath = HostLayer(root, inner_links=False)

    # -- walking ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _parent(self, rel: str, create: bool = False) -> Iterator[tuple[int, str] | None]:
        """``(fd of the folder holding rel's last name, that name)``, or None when a folder on
        the way is missing or not a real folder (a link, a file). With ``create``, missing
        folders are made (and the fd's folder is real)."""
        parts = components(rel)
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            # os.mkdir's default mode (0o777 less the umask), as pip makes a site's folders
            fd = self._beneath.open_folder("/".join(parts[:-1]), create=create, mode=0o777)
        except WasiError:  # missing, a link or a file on the way (or no root yet)
            yield None
            return
        try:
            yield fd, parts[-1]
        finally:
            os.close(fd)

    def _open_entry(self, rel: str, flags: int) -> int | None:
        """A descriptor of the entry ``rel`` itself, opened with ``flags`` (which include
        ``O_NOFOLLOW``), or None when it cannot be (missing, a link, on a bad way)."""
        with self._parent(rel) as found:
            if found is None:
                return None
            try:
                return os.open(found[1], flags, dir_fd=found[0])
            except OSError:
                return None

    @contextlib.contextmanager
    def _entry(self, rel: str) -> Iterator[tuple[int, str, os.stat_result] | None]:
        """``(fd of the folder holding rel, its last name, the entry's own stat)``, or None
        when it is not there (as ``_parent``)."""
        with self._parent(rel) as found:
            if found is None:
                yield None
                return
            dir_fd, name = found
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                yield None
                return
            yield dir_fd, name, st

    def lstat(self, rel: str) -> os.stat_result | None:
        """The entry itself (a link is reported as a link), or None if it is not there."""
        with self._entry(rel) as entry:
            return None if entry is None else entry[2]

    def is_dir(self, rel: str) -> bool:
        st = self.lstat(rel)
        return st is not None and stat.S_ISDIR(st.st_mode)

    # -- reading ----------------------------------------------------------------------------
    def top_folders(self, suffix: str) -> list[str]:
        """Names of the real folders (not links) at the top of the layer ending in ``suffix``."""
        try:
            with os.scandir(self.root) as entries:
                return sorted(e.name for e in entries
                              if e.name.endswith(suffix) and e.is_dir(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read_text(self, rel: str, limit: int) -> str | None:
        """A regular file's text (at most ``limit`` bytes read), or None when it is missing, a
        link, not a regular file or too large."""
        fd = self._open_entry(rel, _FILE_FLAGS)
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                return None
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(limit + 1)
        finally:
            os.close(fd)
        if len(data) > limit:
            return None
        return data.decode("utf-8", "replace")

    def size(self, rel: str) -> tuple[int, int]:
        """(bytes, entries) of ``rel`` as the quota counts them (the folder itself included),
        by ``lstat`` only; (0, 0) when it is not there."""
        with self._entry(rel) as entry:
            if entry is None:
                return 0, 0
            dir_fd, name, st = entry
            if not stat.S_ISDIR(st.st_mode):
                return st.st_size, 1
            nbytes, entries = 0, 1
            for _top, dirnames, filenames, top_fd in os.fwalk(name, dir_fd=dir_fd,
                                                              follow_symlinks=False):
                entries += len(dirnames) + len(filenames)
                for filename in filenames:
                    nbytes += os.stat(filename, dir_fd=top_fd, follow_symlinks=False).st_size
            return nbytes, entries

    # -- changing ---------------------------------------------------------------------------
    def remove(self, rel: str) -> tuple[int, int]:
        """Delete ``rel`` (a folder with its contents; a link as a link). Returns what it took,
        as :meth:`size` counts it."""
        nbytes, entries = self.size(rel)
        with self._entry(rel) as entry:
            if entry is None:
                return 0, 0
            dir_fd, name, st = entry
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=dir_fd)
            else:
                os.unlink(name, dir_fd=dir_fd)
        return nbytes, entries

    def remove_if_empty(self, rel: str) -> bool:
        """Remove a real folder that is empty; True when it did."""
        with self._parent(rel) as found:
            if found is None:
                return False
            try:
                os.rmdir(found[1], dir_fd=found[0])
            except OSError:
                return False
            return True

    def list_dir(self, rel: str) -> list[tuple[str, bool]] | None:
        """``(name, is a real folder)`` of a real folder's entries; None if it is not one."""
        fd = self._open_entry(rel, _DIR_FLAGS)
        if fd is None:
            return None
        try:
            names = os.listdir(fd)
            return [(n, stat.S_ISDIR(os.stat(n, dir_fd=fd, follow_symlinks=False).st_mode))
                    for n in names]
        finally:
            os.close(fd)

    def make_dir(self, rel: str) -> bool:
        """Make a real folder at ``rel`` (its parents must be real folders); True when it was
        created. Whatever else is there (a file, a link) must be removed first."""
        with self._parent(rel, create=True) as found:
            if found is None:
                raise UnsafeSitePath(rel)
            try:
                os.mkdir(found[1], dir_fd=found[0])
            except FileExistsError:
                return False
            return True

    def write_file(self, rel: str, source: Path) -> int:
        """Copy the host file ``source`` to a new file at ``rel`` (nothing may be there);
        returns its size."""
        with self._parent(rel, create=True) as found:
            if found is None:
                raise UnsafeSitePath(rel)
            fd = os.open(found[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644, dir_fd=found[0])
        with os.fdopen(fd, "wb") as target, open(source, "rb") as data:
            shutil.copyfileobj(data, target)
            return target.tell()
