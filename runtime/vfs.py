"""The sandbox's virtual filesystem: guest paths resolved onto mounts, never outside them.

The guest sees one tree rooted at ``/`` (WASI preopens only ``/``, see DESIGN.md). Each mount maps
a guest folder (or a single file) onto host storage:

* a read-only host file (the stdlib zip),
* a *layered* folder: an optional read-only ``lower`` host folder (guest packages, mpl-data, the
  notebook's folder) and an optional private, writable ``upper`` folder that belongs to this
  sandbox alone and counts against its quota. Deleting a lower file records a whiteout; writing
  one copies it up first (overlay mode) or is refused (protected mode).

Paths are normalised lexically on the guest side (``..`` stops at ``/``), then resolved beneath
each layer's root by ``HostLayer`` (runtime/host_layer.py): from a descriptor of the root, with
``openat2(RESOLVE_BENEATH)`` or one ``O_NOFOLLOW`` step at a time, acting on the last name relative
to its folder's descriptor. An upper layer never follows a symlink; a lower one follows only links
that stay inside it. So whatever is on disk (a planted link, one swapped in while the guest runs)
nothing outside a layer is reached. The guest itself cannot create symlinks or hard links.
"""

from __future__ import annotations

import functools
import os
import stat as stat_mod
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from .host_layer import HostLayer
from .wasi_errno import Errno, WasiError, from_os_error

MAX_PATH = 4096
MAX_NAME = 255

FILETYPE_UNKNOWN = 0
FILETYPE_DIRECTORY = 3
FILETYPE_REGULAR = 4


def normalize(path: str, base: str = "/") -> str:
    """Join ``path`` onto the absolute guest folder ``base`` and normalise it lexically.

    ``..`` at the root stays at the root, as in POSIX. Raises ``WasiError`` for NUL bytes,
    over-long paths or names.
    """
    if "\x00" in path:
        raise WasiError(Errno.ILSEQ, "NUL byte in path")
    try:
        encoded = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise WasiError(Errno.ILSEQ, "path is not valid Unicode") from exc
    if len(encoded) > MAX_PATH:
        raise WasiError(Errno.NAMETOOLONG, "path too long")
    parts: list[str] = [] if path.startswith("/") else [p for p in base.split("/") if p]
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise WasiError(Errno.NAMETOOLONG, "name too long")
        parts.append(part)
    return "/" + "/".join(parts)


def inode(guest_path: str) -> int:
    """The inode number the guest sees for ``guest_path``: stable across stat, fstat, readdir
    and processes (unlike host inodes, which differ between layers and machines)."""
    return zlib.crc32(guest_path.encode("utf-8", "surrogateescape")) + 1


def _within(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass
class Quota:
    """Byte and file-count limits shared by all of one sandbox's writable layers.

    ``charge`` checks and counts under a lock: the sandbox's processes (guest instances on
    their own threads, runtime/processes/) share one quota, and two of them writing at once
    must not both pass a check that only one of them fits."""

    max_bytes: int
    max_files: int
    used_bytes: int = 0
    used_files: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def charge(self, nbytes: int = 0, nfiles: int = 0) -> None:
        """Account for growth; raise DQUOT (and change nothing) when it would not fit."""
        with self._lock:
            if nbytes > 0 and self.used_bytes + nbytes > self.max_bytes:
                raise WasiError(Errno.DQUOT, "workspace byte quota exceeded")
            if nfiles > 0 and self.used_files + nfiles > self.max_files:
                raise WasiError(Errno.DQUOT, "workspace file-count quota exceeded")
            self.used_bytes = max(0, self.used_bytes + nbytes)
            self.used_files = max(0, self.used_files + nfiles)

    def count_existing(self, folder: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(folder):
            self.used_files += len(dirnames) + len(filenames)
            for name in filenames:
                self.used_bytes += os.lstat(os.path.join(dirpath, name)).st_size


@dataclass(frozen=True)
class Stat:
    """What ``filestat`` reports, independent of host inode numbers."""

    filetype: int
    size: int
    mtime_ns: int
    atime_ns: int
    ctime_ns: int
    ino: int
    nlink: int = 1


def _stat_from_host(st: os.stat_result, guest_path: str) -> Stat:
    kind = FILETYPE_DIRECTORY if stat_mod.S_ISDIR(st.st_mode) else (
        FILETYPE_REGULAR if stat_mod.S_ISREG(st.st_mode) else FILETYPE_UNKNOWN
    )
    return Stat(kind, st.st_size, st.st_mtime_ns, st.st_atime_ns, st.st_ctime_ns,
                inode(guest_path))


def virtual_dir_stat(guest_path: str) -> Stat:
    return Stat(FILETYPE_DIRECTORY, 0, 0, 0, 0, inode(guest_path))


class Mount:
    """Base of the two mount kinds; ``point`` is the guest path it covers."""

    point: str
    writable: bool = False


@dataclass
class FileMount(Mount):
    """One read-only host file at one guest path (the stdlib zip)."""

    point: str
    host: Path


@dataclass(frozen=True)
class Found:
    """An entry as the guest sees it: its host ``stat`` and the layer it comes from."""

    st: os.stat_result
    in_upper: bool

    @property
    def is_dir(self) -> bool:
        return stat_mod.S_ISDIR(self.st.st_mode)


@dataclass
class LayeredMount(Mount):
    """A guest folder backed by an optional read-only lower and an optional private upper.

    ``protect_lower``: files that come from the lower layer cannot be changed or removed
    (read-only notebook folder); otherwise they are copied up on first write (overlay).

    ``whiteouts`` holds relative paths deleted from the lower layer: the lower entry and
    everything below it stay hidden for good, even when the guest creates a new entry of the same
    name in upper (so a new folder never shows the old folder's lower files).

    Each layer is a ``HostLayer`` (runtime/host_layer.py): the upper never follows a symlink,
    the lower follows only links that stay inside it, checked as the path is walked.
    """

    point: str
    lower: Path | None
    upper: Path | None
    quota: Quota | None = None
    protect_lower: bool = False
    whiteouts: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.writable = self.upper is not None
        self.lower_layer = HostLayer(self.lower, inner_links=True) if self.lower else None
        self.upper_layer = HostLayer(self.upper, inner_links=False) if self.upper else None

    def _hidden(self, rel: str) -> bool:
        if not self.whiteouts:
            return False
        probe = rel
        while probe:
            if probe in self.whiteouts:
                return True
            probe = probe.rpartition("/")[0]
        return False

    def _lower_stat(self, rel: str) -> os.stat_result | None:
        if self.lower_layer is None or self._hidden(rel):
            return None
        return self.lower_layer.stat(rel)

    def in_lower(self, rel: str) -> bool:
        """Whether ``rel`` exists in the lower layer and was not deleted."""
        return self._lower_stat(rel) is not None

    def find(self, rel: str) -> Found | None:
        """``rel`` as the guest sees it (upper first), or None when absent."""
        if self.upper_layer is not None:
            st = self.upper_layer.stat(rel)
            if st is not None:
                return Found(st, True)
        st = self._lower_stat(rel)
        return Found(st, False) if st is not None else None

    def open_found(self, rel: str, found: Found) -> int:
        """A read-only descriptor of the regular file ``find`` returned."""
        layer = self.upper_layer if found.in_upper else self.lower_layer
        if layer is None:
            raise WasiError(Errno.NOENT)
        return layer.open_file(rel, os.O_RDONLY)

    def existing_upper(self) -> HostLayer:
        """The upper layer, for an entry ``find`` found there."""
        if self.upper_layer is None:
            raise WasiError(Errno.ROFS, "read-only folder")
        return self.upper_layer

    def writable_upper(self, rel: str) -> HostLayer:
        """The upper layer, with the folders above ``rel`` made in it: they exist in the merged
        view (perhaps only in lower) or this is ENOENT/ENOTDIR."""
        if self.upper_layer is None:
            raise WasiError(Errno.ROFS, "read-only folder")
        parent = rel.rpartition("/")[0]
        if parent:
            found = self.find(parent)
            if found is None:
                raise WasiError(Errno.NOENT, "parent folder does not exist")
            if not found.is_dir:
                raise WasiError(Errno.NOTDIR, "parent is not a folder")
            if not found.in_upper:
                self.upper_layer.makedirs(parent)
        return self.upper_layer

    def listdir(self, rel: str) -> list[str]:
        names: set[str] = set()
        if self.upper_layer is not None and self.upper_layer.stat(rel) is not None:
            names.update(self.upper_layer.listdir(rel))
        lower = self._lower_stat(rel)
        if lower is not None and stat_mod.S_ISDIR(lower.st_mode) and self.lower_layer:
            prefix = f"{rel}/" if rel else ""
            names.update(n for n in self.lower_layer.listdir(rel)
                         if not self._hidden(prefix + n))
        return sorted(names)

    def copy_up(self, rel: str, keep_content: bool) -> int:
        """Bring a lower-layer file into upper so it can be written; returns a read-write
        descriptor of the new upper file (the caller closes it)."""
        if self.protect_lower:
            raise WasiError(Errno.ROFS, "files of the mounted folder are read-only")
        if self.lower_layer is None or self._hidden(rel):
            raise WasiError(Errno.NOENT)
        upper = self.writable_upper(rel)
        source = self.lower_layer.open_file(rel, os.O_RDONLY)
        try:
            size = os.fstat(source).st_size if keep_content else 0
            if self.quota:
                self.quota.charge(size, 1)
            try:
                return upper.copy_into(source, rel, size)
            except WasiError:
                if self.quota:
                    self.quota.charge(-size, -1)
                raise
        finally:
            os.close(source)


def _parent_and_name(guest_path: str) -> tuple[str, str]:
    parent, _, name = guest_path.rpartition("/")
    return parent or "/", name


@dataclass(frozen=True)
class Resolved:
    """Where a guest path leads."""

    guest_path: str
    mount: Mount | None  # None: a virtual folder above mount points
    rel: str


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialized(method: Callable[Concatenate[VirtualFS, _P], _R]
                ) -> Callable[Concatenate[VirtualFS, _P], _R]:
    """Run a changing operation under the filesystem's lock: the sandbox's processes share
    one ``VirtualFS`` from several threads, and an operation that checks, then changes (copy
    up, whiteouts, create-or-fail, rename) must not interleave with another one."""

    @functools.wraps(method)
    def locked(self: VirtualFS, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self.lock:
            return method(self, *args, **kwargs)

    return locked


class VirtualFS:
    """The mount table and the operations the WASI layer and the files API share.

    Changing operations are serialized by ``lock`` (re-entrant), since every process of the
    sandbox (one guest instance per host thread) works on the same tree; reads need none."""

    def __init__(self, mounts: list[Mount]) -> None:
        self.lock = threading.RLock()
        self.mounts = sorted(mounts, key=lambda m: len(m.point), reverse=True)
        self._virtual_children: dict[str, set[str]] = {}
        for mount in mounts:
            path = mount.point
            while path != "/":
                parent, name = _parent_and_name(path)
                self._virtual_children.setdefault(parent, set()).add(name)
                path = parent

    # -- resolution ---------------------------------------------------------------------
    def resolve(self, guest_path: str) -> Resolved:
        for mount in self.mounts:
            if guest_path == mount.point:
                return Resolved(guest_path, mount, "")
        if guest_path in self._virtual_children:
            return Resolved(guest_path, None, "")
        for mount in self.mounts:
            if isinstance(mount, LayeredMount) and _within(mount.point, guest_path):
                return Resolved(guest_path, mount, guest_path[len(mount.point):].lstrip("/"))
            if isinstance(mount, FileMount) and _within(mount.point, guest_path):
                raise WasiError(Errno.NOTDIR, "inside a file")
        raise WasiError(Errno.NOENT, "outside every mount")

    def _resolve_for_create(self, guest_path: str) -> Resolved:
        """``resolve``, but a new name in a folder above the mounts is read-only, not missing."""
        try:
            return self.resolve(guest_path)
        except WasiError as exc:
            parent = _parent_and_name(guest_path)[0]
            if exc.errno == Errno.NOENT and parent in self._virtual_children:
                raise WasiError(Errno.ROFS, "only the mounted folders can be written") from exc
            raise

    def stat(self, guest_path: str) -> Stat:
        where = self.resolve(guest_path)
        mount = where.mount
        if mount is None:
            return virtual_dir_stat(guest_path)
        if isinstance(mount, FileMount):
            try:
                return _stat_from_host(os.stat(mount.host), guest_path)
            except OSError as exc:
                raise from_os_error(exc) from exc
        found = _layered_mount(mount).find(where.rel)
        if found is None:
            raise WasiError(Errno.NOENT)
        return _stat_from_host(found.st, guest_path)

    def is_dir(self, guest_path: str) -> bool:
        return self.stat(guest_path).filetype == FILETYPE_DIRECTORY

    def listdir(self, guest_path: str) -> list[str]:
        where = self.resolve(guest_path)
        names = set(self._virtual_children.get(guest_path, ()))
        if isinstance(where.mount, FileMount):
            raise WasiError(Errno.NOTDIR)
        if where.mount is not None:
            mount = _layered_mount(where.mount)
            found = mount.find(where.rel)
            if found is None:
                raise WasiError(Errno.NOENT)
            if not found.is_dir:
                raise WasiError(Errno.NOTDIR)
            names.update(mount.listdir(where.rel))
        return sorted(names)

    def _layered(self, guest_path: str) -> tuple[LayeredMount, str]:
        where = self._resolve_for_create(guest_path)
        if not isinstance(where.mount, LayeredMount) or where.rel == "":
            raise WasiError(Errno.ROFS, "not inside a writable folder")
        return where.mount, where.rel

    # -- opening ------------------------------------------------------------------------
    @_serialized
    def open_file(self, guest_path: str, *, write: bool, create: bool, exclusive: bool,
                  truncate: bool) -> tuple[int, LayeredMount | None]:
        """Open a regular file; returns (host fd, the mount whose quota its writes charge)."""
        where = self._resolve_for_create(guest_path) if create else self.resolve(guest_path)
        if where.mount is None:
            raise WasiError(Errno.ISDIR)
        if isinstance(where.mount, FileMount):
            if write or truncate:
                raise WasiError(Errno.ROFS, "read-only file")
            try:
                return os.open(where.mount.host, os.O_RDONLY | os.O_CLOEXEC), None
            except OSError as exc:
                raise from_os_error(exc) from exc
        mount, rel = _layered_mount(where.mount), where.rel
        found = mount.find(rel)
        if found is not None and exclusive:
            raise WasiError(Errno.EXIST)
        if found is None:
            if not create:
                raise WasiError(Errno.NOENT)
            upper = mount.writable_upper(rel)
            if mount.quota:
                mount.quota.charge(0, 1)
            try:
                fd = upper.create_file(rel, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except WasiError:
                if mount.quota:
                    mount.quota.charge(0, -1)
                raise
            return fd, mount
        if found.is_dir:
            raise WasiError(Errno.ISDIR)
        if not (write or truncate):
            return mount.open_found(rel, found), None
        if not found.in_upper:
            return mount.copy_up(rel, keep_content=not truncate), mount
        fd = mount.existing_upper().open_file(rel, os.O_RDWR | (os.O_TRUNC if truncate else 0))
        if truncate and mount.quota:
            mount.quota.charge(-found.st.st_size, 0)
        return fd, mount

    # -- changing the tree --------------------------------------------------------------
    @_serialized
    def mkdir(self, guest_path: str) -> None:
        mount, rel = self._layered(guest_path)
        if mount.find(rel) is not None:
            raise WasiError(Errno.EXIST)
        upper = mount.writable_upper(rel)
        if mount.quota:
            mount.quota.charge(0, 1)
        try:
            upper.mkdir(rel)
        except WasiError:
            if mount.quota:
                mount.quota.charge(0, -1)
            raise

    @_serialized
    def unlink(self, guest_path: str) -> None:
        self._remove(guest_path, want_dir=False)

    @_serialized
    def rmdir(self, guest_path: str) -> None:
        self._remove(guest_path, want_dir=True)

    def _remove(self, guest_path: str, want_dir: bool) -> None:
        mount, rel = self._layered(guest_path)
        try:
            found = mount.find(rel)
        except WasiError as exc:
            if exc.errno != Errno.ACCES or want_dir or not self._remove_planted_link(mount, rel):
                raise
            return
        if found is None:
            raise WasiError(Errno.NOENT)
        if want_dir and not found.is_dir:
            raise WasiError(Errno.NOTDIR)
        if not want_dir and found.is_dir:
            raise WasiError(Errno.ISDIR)
        if want_dir and self.listdir(guest_path):
            raise WasiError(Errno.NOTEMPTY)
        in_lower = mount.in_lower(rel)
        if in_lower and (mount.protect_lower or mount.upper is None):
            raise WasiError(Errno.ROFS, "files of the mounted folder are read-only")
        if found.in_upper:
            if found.is_dir:
                mount.existing_upper().rmdir(rel)
            else:
                mount.existing_upper().unlink(rel)
            if mount.quota:
                mount.quota.charge(0 if found.is_dir else -found.st.st_size, -1)
        if in_lower:
            mount.whiteouts.add(rel)

    @staticmethod
    def _remove_planted_link(mount: LayeredMount, rel: str) -> bool:
        """Unlink ``rel`` when it is a symlink sitting in the upper layer (only the host, a
        crafted snapshot or a mistake puts one there): the link goes, its target is never
        touched. False when ``rel`` is not such a link."""
        if mount.upper_layer is None:
            return False
        st = mount.upper_layer.lstat(rel)
        if st is None or not stat_mod.S_ISLNK(st.st_mode):
            return False
        mount.upper_layer.unlink(rel)
        if mount.quota:
            mount.quota.charge(-st.st_size, -1)
        return True

    @_serialized
    def rename(self, src_path: str, dst_path: str) -> None:
        src_mount, src_rel = self._layered(src_path)
        dst_mount, dst_rel = self._layered(dst_path)
        if src_mount is not dst_mount:
            raise WasiError(Errno.XDEV, "rename across mounts")
        mount = src_mount
        if _within(src_path, dst_path) and src_path != dst_path:
            raise WasiError(Errno.INVAL, "cannot move a folder into itself")
        found = mount.find(src_rel)
        if found is None:
            raise WasiError(Errno.NOENT)
        if src_path == dst_path:
            return  # POSIX: renaming a file onto itself does nothing
        src_is_dir = found.is_dir
        src_in_lower = mount.in_lower(src_rel)
        if src_is_dir and src_in_lower:
            # Part of the folder lives in the read-only layer: EXDEV makes shutil.move and
            # friends fall back to copy-and-delete, which is what overlay filesystems do.
            raise WasiError(Errno.XDEV, "moving a folder of the mounted layer")
        dst_found = mount.find(dst_rel)
        if dst_found is not None and mount.protect_lower and mount.in_lower(dst_rel):
            raise WasiError(Errno.ROFS, "files of the mounted folder are read-only")
        replaced = None
        if dst_found is not None:
            if dst_found.is_dir != src_is_dir:
                raise WasiError(Errno.ISDIR if not src_is_dir else Errno.NOTDIR)
            if src_is_dir and self.listdir(dst_path):
                raise WasiError(Errno.NOTEMPTY)
            if dst_found.in_upper:
                replaced = dst_found
        if not found.in_upper:
            os.close(mount.copy_up(src_rel, keep_content=True))
        # rename(2) replaces an existing name of the upper layer in one step, so another
        # process of the sandbox reading dst_path sees the old file or the new one, never
        # no file (write-then-rename is how programs update a file for their readers).
        mount.writable_upper(dst_rel).rename(src_rel, dst_rel)
        if replaced is not None and mount.quota:
            mount.quota.charge(0 if replaced.is_dir else -replaced.st.st_size, -1)
        if src_in_lower:
            mount.whiteouts.add(src_rel)

    @_serialized
    def write_file(self, guest_path: str, data: bytes) -> None:
        """Create or replace a regular file with ``data`` as one step for the files API.

        The quota is checked against the final size before anything is touched, so a refused
        write leaves the old file (and the host disk) exactly as they were.
        """
        mount, rel = self._layered(guest_path)
        found = mount.find(rel)
        old_size, new_files = 0, 1
        if found is not None:
            if found.is_dir:
                raise WasiError(Errno.ISDIR)
            if found.in_upper:
                old_size, new_files = found.st.st_size, 0
            elif mount.protect_lower:
                raise WasiError(Errno.ROFS, "files of the mounted folder are read-only")
        upper = mount.writable_upper(rel)
        if mount.quota:
            mount.quota.charge(len(data) - old_size, new_files)
        try:
            fd = upper.create_file(rel, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except (OSError, WasiError) as exc:
            if mount.quota:
                mount.quota.charge(old_size - len(data), -new_files)
            if isinstance(exc, OSError):
                raise from_os_error(exc) from exc
            raise

    @_serialized
    def set_times(self, guest_path: str, atime_ns: int | None, mtime_ns: int | None) -> None:
        """``utime``: files of a lower layer are copied up first (refused when protected)."""
        mount, rel = self._layered(guest_path)
        found = mount.find(rel)
        if found is None:
            raise WasiError(Errno.NOENT)
        if not found.in_upper:
            if found.is_dir:
                raise WasiError(Errno.ROFS, "folders of the mounted folder are read-only")
            fd = mount.copy_up(rel, keep_content=True)
            try:
                set_host_times(fd, atime_ns, mtime_ns)
            finally:
                os.close(fd)
            return
        mount.existing_upper().set_times(
            rel, found.st.st_atime_ns if atime_ns is None else atime_ns,
            found.st.st_mtime_ns if mtime_ns is None else mtime_ns)


def _layered_mount(mount: Mount) -> LayeredMount:
    """``mount`` as the folder kind (the only other kind, ``FileMount``, is handled first)."""
    if not isinstance(mount, LayeredMount):
        raise TypeError(f"unknown kind of mount: {type(mount).__name__}")
    return mount


def set_host_times(fd: int, atime_ns: int | None, mtime_ns: int | None) -> None:
    """``futimens`` on an open host fd, keeping whichever of the two times is ``None``."""
    try:
        if atime_ns is None or mtime_ns is None:
            st = os.fstat(fd)
            atime_ns = st.st_atime_ns if atime_ns is None else atime_ns
            mtime_ns = st.st_mtime_ns if mtime_ns is None else mtime_ns
        os.utime(fd, ns=(atime_ns, mtime_ns))
    except OSError as exc:
        raise from_os_error(exc) from exc
