"""The sandbox's virtual filesystem: guest paths resolved onto mounts, never outside them.

The guest sees one tree rooted at ``/`` (WASI preopens only ``/``, see DESIGN.md). Each mount maps
a guest folder (or a single file) onto host storage:

* a read-only host file (the stdlib zip),
* a *layered* folder: an optional read-only ``lower`` host folder (guest packages, mpl-data, the
  notebook's folder) and an optional private, writable ``upper`` folder that belongs to this
  sandbox alone and counts against its quota. Deleting a lower file records a whiteout; writing
  one copies it up first (overlay mode) or is refused (protected mode).

Paths are normalised lexically on the guest side (``..`` stops at ``/``), then each existing host
path is checked with ``realpath`` to stay inside its layer, so a symlink planted in a host folder
cannot lead out. The guest itself cannot create symlinks or hard links.
"""

from __future__ import annotations

import os
import shutil
import stat as stat_mod
import zlib
from dataclasses import dataclass, field
from pathlib import Path

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
    """Byte and file-count limits shared by all of one sandbox's writable layers."""

    max_bytes: int
    max_files: int
    used_bytes: int = 0
    used_files: int = 0

    def charge(self, nbytes: int = 0, nfiles: int = 0) -> None:
        """Account for growth; raise DQUOT (and change nothing) when it would not fit."""
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


@dataclass
class LayeredMount(Mount):
    """A guest folder backed by an optional read-only lower and an optional private upper.

    ``protect_lower``: files that come from the lower layer cannot be changed or removed
    (read-only notebook folder); otherwise they are copied up on first write (overlay).

    ``whiteouts`` holds relative paths deleted from the lower layer: the lower entry and
    everything below it stay hidden for good, even when the guest creates a new entry of the same
    name in upper (so a new folder never shows the old folder's lower files).
    """

    point: str
    lower: Path | None
    upper: Path | None
    quota: Quota | None = None
    protect_lower: bool = False
    whiteouts: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.writable = self.upper is not None
        self._lower_real = os.path.realpath(self.lower) if self.lower else None
        self._upper_real = os.path.realpath(self.upper) if self.upper else None

    def _hidden(self, rel: str) -> bool:
        if not self.whiteouts:
            return False
        probe = rel
        while probe:
            if probe in self.whiteouts:
                return True
            probe = probe.rpartition("/")[0]
        return False

    @staticmethod
    def _in_layer(root_real: str, host: str) -> bool:
        return _within(root_real, os.path.realpath(host))

    def upper_path(self, rel: str) -> str | None:
        """Host path of ``rel`` in the upper layer when it exists there."""
        if self._upper_real is None:
            return None
        host = os.path.join(self._upper_real, rel) if rel else self._upper_real
        if os.path.lexists(host):
            if not self._in_layer(self._upper_real, host):
                raise WasiError(Errno.ACCES, "path leaves the sandbox")
            return host
        return None

    def lower_path(self, rel: str) -> str | None:
        """Host path of ``rel`` in the lower layer when it exists there and is not deleted.

        Symlinks in the host folder are resolved here, once, and followed only when they stay
        inside the lower folder; the resolved path is returned so later calls never follow a
        link again.
        """
        if self._lower_real is None or self._hidden(rel):
            return None
        host = os.path.join(self._lower_real, rel) if rel else self._lower_real
        if os.path.lexists(host):
            real = os.path.realpath(host)
            if not _within(self._lower_real, real):
                raise WasiError(Errno.ACCES, "path leaves the sandbox")
            if not os.path.exists(real):
                return None  # a dangling link inside the folder: nothing there
            return real
        return None

    def find(self, rel: str) -> tuple[str, bool] | None:
        """(host path, is_upper) of ``rel`` as the guest sees it, or None when absent."""
        upper = self.upper_path(rel)
        if upper is not None:
            return upper, True
        lower = self.lower_path(rel)
        if lower is not None:
            return lower, False
        return None

    def new_upper_path(self, rel: str) -> str:
        """Host path where a new ``rel`` is created, making its parent folders in upper."""
        if self._upper_real is None:
            raise WasiError(Errno.ROFS, "read-only folder")
        parent = rel.rpartition("/")[0]
        if parent and self.upper_path(parent) is None:
            found = self.find(parent)
            if found is None:
                raise WasiError(Errno.NOENT, "parent folder does not exist")
            if not os.path.isdir(found[0]):
                raise WasiError(Errno.NOTDIR, "parent is not a folder")
            os.makedirs(os.path.join(self._upper_real, parent), exist_ok=True)
        return os.path.join(self._upper_real, rel)

    def listdir(self, rel: str) -> list[str]:
        names: set[str] = set()
        upper = self.upper_path(rel)
        if upper is not None:
            names.update(os.listdir(upper))
        lower = self.lower_path(rel)
        if lower is not None and os.path.isdir(lower):
            prefix = f"{rel}/" if rel else ""
            names.update(n for n in os.listdir(lower) if not self._hidden(prefix + n))
        return sorted(names)

    def copy_up(self, rel: str, keep_content: bool) -> str:
        """Bring a lower-layer file into upper so it can be written; returns the upper path."""
        if self.protect_lower:
            raise WasiError(Errno.ROFS, "files of the mounted folder are read-only")
        lower = self.lower_path(rel)
        target = self.new_upper_path(rel)
        if lower is None:
            raise WasiError(Errno.NOENT)
        size = os.path.getsize(lower) if keep_content else 0
        if self.quota:
            self.quota.charge(size, 1)
        try:
            if keep_content:
                shutil.copyfile(lower, target)
            else:
                open(target, "wb").close()
        except OSError as exc:
            if self.quota:
                self.quota.charge(-size, -1)
            raise from_os_error(exc) from exc
        return target


def _parent_and_name(guest_path: str) -> tuple[str, str]:
    parent, _, name = guest_path.rpartition("/")
    return parent or "/", name


@dataclass(frozen=True)
class Resolved:
    """Where a guest path leads."""

    guest_path: str
    mount: Mount | None  # None: a virtual folder above mount points
    rel: str


class VirtualFS:
    """The mount table and the operations the WASI layer and the files API share."""

    def __init__(self, mounts: list[Mount]) -> None:
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
        try:
            if isinstance(mount, FileMount):
                st = os.stat(mount.host)
                return _stat_from_host(st, guest_path)
            assert isinstance(mount, LayeredMount)  # noqa: S101
            found = mount.find(where.rel)
            if found is None:
                raise WasiError(Errno.NOENT)
            return _stat_from_host(os.stat(found[0]), guest_path)
        except OSError as exc:
            raise from_os_error(exc) from exc

    def is_dir(self, guest_path: str) -> bool:
        return self.stat(guest_path).filetype == FILETYPE_DIRECTORY

    def listdir(self, guest_path: str) -> list[str]:
        where = self.resolve(guest_path)
        names = set(self._virtual_children.get(guest_path, ()))
        if isinstance(where.mount, FileMount):
            raise WasiError(Errno.NOTDIR)
        if isinstance(where.mount, LayeredMount):
            if where.mount.find(where.rel) is None:
                raise WasiError(Errno.NOENT)
            if not self.is_dir(guest_path):
                raise WasiError(Errno.NOTDIR)
            try:
                names.update(where.mount.listdir(where.rel))
            except OSError as exc:
                raise from_os_error(exc) from exc
        return sorted(names)

    def _layered(self, guest_path: str) -> tuple[LayeredMount, str]:
        where = self._resolve_for_create(guest_path)
        if not isinstance(where.mount, LayeredMount) or where.rel == "":
            raise WasiError(Errno.ROFS, "not inside a writable folder")
        return where.mount, where.rel

    # -- opening ------------------------------------------------------------------------
    def open_file(self, guest_path: str, *, write: bool, create: bool, exclusive: bool,
                  truncate: bool) -> tuple[int, LayeredMount | None]:
        """Open a regular file; returns (host fd, the mount whose quota its writes charge)."""
        where = self._resolve_for_create(guest_path) if create else self.resolve(guest_path)
        mount = where.mount
        if mount is None:
            raise WasiError(Errno.ISDIR)
        if isinstance(mount, FileMount):
            if write or truncate:
                raise WasiError(Errno.ROFS, "read-only file")
            return self._os_open(str(mount.host), os.O_RDONLY), None
        assert isinstance(mount, LayeredMount)  # noqa: S101
        rel = where.rel
        found = mount.find(rel)
        if found is not None and exclusive:
            raise WasiError(Errno.EXIST)
        if found is None:
            if not create:
                raise WasiError(Errno.NOENT)
            host = mount.new_upper_path(rel)
            if mount.quota:
                mount.quota.charge(0, 1)
            try:
                fd = self._os_open(host, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except WasiError:
                if mount.quota:
                    mount.quota.charge(0, -1)
                raise
            return fd, mount
        host, in_upper = found
        if os.path.isdir(host):
            if write or truncate:
                raise WasiError(Errno.ISDIR)
            raise WasiError(Errno.ISDIR)
        if not (write or truncate):
            return self._os_open(host, os.O_RDONLY), None
        if not in_upper:
            host = mount.copy_up(rel, keep_content=not truncate)
        elif truncate and mount.quota:
            mount.quota.charge(-os.path.getsize(host), 0)
        flags = os.O_RDWR | (os.O_TRUNC if truncate else 0)
        return self._os_open(host, flags), mount

    @staticmethod
    def _os_open(host: str, flags: int) -> int:
        try:
            return os.open(host, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise from_os_error(exc) from exc

    # -- changing the tree --------------------------------------------------------------
    def mkdir(self, guest_path: str) -> None:
        mount, rel = self._layered(guest_path)
        if mount.find(rel) is not None:
            raise WasiError(Errno.EXIST)
        host = mount.new_upper_path(rel)
        if mount.quota:
            mount.quota.charge(0, 1)
        try:
            os.mkdir(host, 0o700)
        except OSError as exc:
            if mount.quota:
                mount.quota.charge(0, -1)
            raise from_os_error(exc) from exc

    def unlink(self, guest_path: str) -> None:
        self._remove(guest_path, want_dir=False)

    def rmdir(self, guest_path: str) -> None:
        self._remove(guest_path, want_dir=True)

    def _remove(self, guest_path: str, want_dir: bool) -> None:
        mount, rel = self._layered(guest_path)
        found = mount.find(rel)
        if found is None:
            raise WasiError(Errno.NOENT)
        host, in_upper = found
        is_dir = os.path.isdir(host) and not os.path.islink(host)
        if want_dir and not is_dir:
            raise WasiError(Errno.NOTDIR)
        if not want_dir and is_dir:
            raise WasiError(Errno.ISDIR)
        if want_dir and self.listdir(guest_path):
            raise WasiError(Errno.NOTEMPTY)
        in_lower = mount.lower_path(rel) is not None
        if in_lower and (mount.protect_lower or mount.upper is None):
            raise WasiError(Errno.ROFS, "files of the mounted folder are read-only")
        if in_upper:
            size = 0 if is_dir else os.lstat(host).st_size
            try:
                os.rmdir(host) if is_dir else os.unlink(host)
            except OSError as exc:
                raise from_os_error(exc) from exc
            if mount.quota:
                mount.quota.charge(-size, -1)
        if in_lower:
            mount.whiteouts.add(rel)

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
        host, in_upper = found
        src_is_dir = os.path.isdir(host)
        src_in_lower = mount.lower_path(src_rel) is not None
        if src_is_dir and src_in_lower:
            # Part of the folder lives in the read-only layer: EXDEV makes shutil.move and
            # friends fall back to copy-and-delete, which is what overlay filesystems do.
            raise WasiError(Errno.XDEV, "moving a folder of the mounted layer")
        dst_found = mount.find(dst_rel)
        if dst_found is not None and mount.protect_lower and mount.lower_path(dst_rel):
            raise WasiError(Errno.ROFS, "files of the mounted folder are read-only")
        if not in_upper:
            host = mount.copy_up(src_rel, keep_content=True)
        if dst_found is not None:
            if os.path.isdir(dst_found[0]) != src_is_dir:
                raise WasiError(Errno.ISDIR if not src_is_dir else Errno.NOTDIR)
            if src_is_dir and self.listdir(dst_path):
                raise WasiError(Errno.NOTEMPTY)
            if dst_found[1]:
                self._remove(dst_path, want_dir=src_is_dir)
        target = mount.new_upper_path(dst_rel)
        try:
            os.rename(host, target)
        except OSError as exc:
            raise from_os_error(exc) from exc
        if src_in_lower:
            mount.whiteouts.add(src_rel)

    def write_file(self, guest_path: str, data: bytes) -> None:
        """Create or replace a regular file with ``data`` as one step for the files API.

        The quota is checked against the final size before anything is touched, so a refused
        write leaves the old file (and the host disk) exactly as they were.
        """
        mount, rel = self._layered(guest_path)
        found = mount.find(rel)
        old_size, new_files = 0, 1
        if found is not None:
            host, in_upper = found
            if os.path.isdir(host):
                raise WasiError(Errno.ISDIR)
            if in_upper:
                old_size, new_files = os.lstat(host).st_size, 0
            elif mount.protect_lower:
                raise WasiError(Errno.ROFS, "files of the mounted folder are read-only")
        target = mount.new_upper_path(rel)
        if mount.quota:
            mount.quota.charge(len(data) - old_size, new_files)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            if mount.quota:
                mount.quota.charge(old_size - len(data), -new_files)
            raise from_os_error(exc) from exc

    def set_times(self, guest_path: str, atime_ns: int | None, mtime_ns: int | None) -> None:
        """``utime``: files of a lower layer are copied up first (refused when protected)."""
        mount, rel = self._layered(guest_path)
        found = mount.find(rel)
        if found is None:
            raise WasiError(Errno.NOENT)
        host, in_upper = found
        if not in_upper:
            if os.path.isdir(host):
                raise WasiError(Errno.ROFS, "folders of the mounted folder are read-only")
            host = mount.copy_up(rel, keep_content=True)
        set_host_times(host, atime_ns, mtime_ns)


def set_host_times(target: str | int, atime_ns: int | None, mtime_ns: int | None) -> None:
    """``os.utime`` on a host path or fd, keeping whichever of the two times is ``None``."""
    try:
        if atime_ns is None or mtime_ns is None:
            st = os.stat(target, follow_symlinks=False) if isinstance(target, str) else os.fstat(target)
            atime_ns = st.st_atime_ns if atime_ns is None else atime_ns
            mtime_ns = st.st_mtime_ns if mtime_ns is None else mtime_ns
        if isinstance(target, str):
            os.utime(target, ns=(atime_ns, mtime_ns), follow_symlinks=False)
        else:
            os.utime(target, ns=(atime_ns, mtime_ns))
    except OSError as exc:
        raise from_os_error(exc) from exc
