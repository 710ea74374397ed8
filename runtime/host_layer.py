"""One host folder that paths are resolved *beneath*: what each layer of a mount stands on.

Why: a layer's folder holds entries we do not control — a notebook folder beside shared files,
a sandbox's private folder restored from a snapshot someone sent, a folder an administrator or a
host process changes while the guest runs. Checking a host path with ``realpath`` and then using
the path string follows whatever the path leads to *when it is used* (a symlink planted or swapped
in between leads anywhere). Here nothing is ever done with a host path string below the root:
every operation starts from a descriptor of the layer's root, goes down to the parent folder
either in one kernel call (``openat2`` with ``RESOLVE_BENEATH``, runtime/openat2.py) or one
component at a time with ``O_NOFOLLOW``, and then acts on the last name relative to that folder's
descriptor (``dir_fd=``, ``follow_symlinks=False``, ``O_NOFOLLOW``).

Two policies, one per kind of layer:

* ``inner_links=False`` (the writable upper layers: /workspace, /tmp, user-site): no symlink is
  ever followed, not even one that points inside. Meeting one is EACCES.
* ``inner_links=True`` (read-only lower layers: the notebook's folder, guest packages,
  mpl-data): a symlink whose target stays inside the root keeps working. Targets are resolved
  against the root: ``..`` never climbs above it, an absolute target must name a place inside
  the root's own path. Anything else is EACCES.

Only regular files and folders are opened: a FIFO or device node met on the way is refused
(opened with ``O_NONBLOCK`` first, so even a FIFO cannot block the guest thread).
"""

from __future__ import annotations

import errno
import logging
import os
import stat as stat_mod
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from . import openat2
from .wasi_errno import Errno, WasiError, from_os_error

log = logging.getLogger(__name__)

#: Linux has O_PATH (a descriptor only for walking and ``*at`` calls); elsewhere a read fd.
O_PATH = getattr(os, "O_PATH", os.O_RDONLY)
_DIR_FLAGS = O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
#: As Linux's own limit on symlinks followed in one lookup.
MAX_LINK_HOPS = 40
_COPY_CHUNK = 1 << 20


def link_refused() -> WasiError:
    return WasiError(Errno.ACCES, "a symbolic link in the sandbox's own folder is never followed")


def escape_refused() -> WasiError:
    return WasiError(Errno.ACCES, "a symbolic link leads outside the sandbox's folder")


def not_regular() -> WasiError:
    return WasiError(Errno.ACCES, "only regular files and folders can be opened in the sandbox")


def _parts(rel: str) -> list[str]:
    return [p for p in rel.split("/") if p not in ("", ".")]


class HostLayer:
    """A host folder reached only beneath its root; ``rel`` paths are relative to the root,
    already normalised by the VFS (no ``..``, no empty or ``.`` components).

    The root's own path is the administrator's configuration (trusted); it is resolved with
    ``realpath`` once, here, and opened again (``O_NOFOLLOW`` on its last name) for every
    operation, so a root that a restore replaced is the new folder, never a stale one.
    """

    def __init__(self, root: str | os.PathLike[str], *, inner_links: bool,
                 use_openat2: bool | None = None) -> None:
        self.root = os.path.realpath(root)
        self.inner_links = inner_links
        self.uses_openat2 = openat2.available() if use_openat2 is None else use_openat2
        self._resolve = openat2.RESOLVE_BENEATH | openat2.RESOLVE_NO_MAGICLINKS
        if not inner_links:
            self._resolve |= openat2.RESOLVE_NO_SYMLINKS
        self._root_parts = [p for p in self.root.split("/") if p]

    def __repr__(self) -> str:
        mode = "openat2" if self.uses_openat2 else "walk"
        return f"HostLayer({self.root!r}, inner_links={self.inner_links}, {mode})"

    # -- errors ---------------------------------------------------------------------------
    def _error(self, exc: OSError) -> WasiError:
        """The guest's view of a host error from a lookup beneath the root."""
        if exc.errno == errno.EXDEV:
            return escape_refused()
        if exc.errno == errno.ELOOP and not self.inner_links:
            return link_refused()
        return from_os_error(exc)

    # -- descriptors ----------------------------------------------------------------------
    def _open_root(self) -> int:
        try:
            return os.open(self.root, _DIR_FLAGS | os.O_NOFOLLOW)
        except OSError as exc:
            raise from_os_error(exc) from exc

    @contextmanager
    def _root(self) -> Iterator[int]:
        fd = self._open_root()
        try:
            yield fd
        finally:
            os.close(fd)

    def _open(self, rel: str, flags: int) -> int:
        """Open the entry at ``rel`` itself with ``flags`` (links per the policy)."""
        try:
            return self._open_host(rel, flags)
        except OSError as exc:
            raise self._error(exc) from exc

    def _open_host(self, rel: str, flags: int) -> int:
        """``_open`` with host errors left as ``OSError`` (the hot path of ``stat``: a missing
        file is the most common answer while Python searches its import path)."""
        flags |= os.O_CLOEXEC
        root = self._open_root()
        try:
            if self.uses_openat2:
                try:
                    return openat2.openat2(root, rel or ".", flags, self._resolve)
                except OSError as exc:
                    # EXDEV in a lower layer: an absolute link, or one that climbs out and
                    # back in. The walk below judges it against the root's path (and refuses
                    # real escapes); every other error is the answer.
                    if exc.errno != errno.EXDEV or not self.inner_links:
                        raise
            dir_fd, name = self._walk(root, _parts(rel), follow_final=True)
            try:
                return os.open(name, flags | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a link appeared after the walk looked
                    raise link_refused() from exc
                raise
            finally:
                os.close(dir_fd)
        finally:
            os.close(root)

    def open_folder(self, rel: str, *, create: bool = False, mode: int = 0o700) -> int:
        """An ``O_PATH`` descriptor of the folder ``rel``, reached beneath the root by the
        layer's link policy; with ``create``, folders missing on the way are made (``mode``).
        The caller closes it. Raises ``WasiError`` (NOENT, NOTDIR, ACCES for a link...)."""
        return self._dir(rel, create=create, mode=mode)

    def _dir(self, rel: str, *, create: bool = False, mode: int = 0o700) -> int:
        with self._root() as root:
            if self.uses_openat2:
                try:
                    return openat2.openat2(root, rel or ".", _DIR_FLAGS, self._resolve)
                except OSError as exc:
                    retry = (exc.errno == errno.ENOENT and create) or (
                        exc.errno == errno.EXDEV and self.inner_links)
                    if not retry:
                        raise self._error(exc) from exc
            fd, _ = self._walk(root, [*_parts(rel), "."], follow_final=True, create=create,
                               mode=mode)
            return fd

    @contextmanager
    def _parent(self, rel: str) -> Iterator[tuple[int, str]]:
        """(descriptor of the folder holding ``rel``, its last name), for acting on the entry
        itself: the name is never followed by what the caller does with it."""
        parent, _, name = rel.rpartition("/")
        if name in ("", ".", ".."):
            raise WasiError(Errno.INVAL, "not a name inside the folder")
        fd = self._dir(parent)
        try:
            yield fd, name
        finally:
            os.close(fd)

    def _walk(self, root: int, parts: list[str], *, follow_final: bool,
              create: bool = False, mode: int = 0o700) -> tuple[int, str]:
        """Go down ``parts`` from ``root`` one component at a time, never through a symlink
        that leaves the root; returns (an owned descriptor of the last folder, the last name,
        ``.`` when the path ends at a folder).

        Each folder is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to the previous one,
        so what was checked is what is used. ``..`` (only ever from a link target) goes back to
        the folder this walk came from and never above the root.
        """
        chain = [os.dup(root)]
        pending = deque(parts)
        hops = 0
        try:
            while pending:
                name = pending.popleft()
                if name in ("", "."):
                    continue
                if name == "..":
                    if len(chain) == 1:
                        raise escape_refused()
                    os.close(chain.pop())
                    continue
                if not pending:  # the last name: returned, or followed when it is a link
                    target = self._link_target(chain[-1], name) if (
                        follow_final and self.inner_links) else None
                    if target is None:
                        return chain.pop(), name
                    hops = self._follow(chain, pending, target, hops)
                    continue
                try:
                    fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=chain[-1])
                except FileNotFoundError:
                    if not create:
                        raise WasiError(Errno.NOENT) from None
                    try:
                        os.mkdir(name, mode, dir_fd=chain[-1])
                    except FileExistsError:
                        pass  # made meanwhile: opened (and checked) just below
                    fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=chain[-1])
                except NotADirectoryError:
                    target = self._link_target(chain[-1], name)
                    if target is None:
                        raise WasiError(Errno.NOTDIR) from None
                    hops = self._follow(chain, pending, target, hops)
                    continue
                chain.append(fd)
            return chain.pop(), "."
        except OSError as exc:
            raise self._error(exc) from exc
        finally:
            for fd in chain:
                os.close(fd)

    @staticmethod
    def _link_target(dir_fd: int, name: str) -> str | None:
        """The target of ``name`` when it is a symlink, else None (also when absent)."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat_mod.S_ISLNK(st.st_mode):
            return None
        return os.readlink(name, dir_fd=dir_fd)

    def _follow(self, chain: list[int], pending: deque[str], target: str, hops: int) -> int:
        """Queue a link's target in place of the link (a lower layer's in-tree link)."""
        if not self.inner_links:
            raise link_refused()
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise WasiError(Errno.LOOP, "too many symbolic links")
        if target.startswith("/"):
            # An absolute target is fine only when it names a place inside the root's path.
            steps = [p for p in target.split("/") if p not in ("", ".")]
            if steps[:len(self._root_parts)] != self._root_parts:
                raise escape_refused()
            while len(chain) > 1:
                os.close(chain.pop())
            steps = steps[len(self._root_parts):]
        else:
            steps = target.split("/")
        pending.extendleft(reversed(steps))
        return hops

    # -- looking ----------------------------------------------------------------------------
    def stat(self, rel: str) -> os.stat_result | None:
        """The entry at ``rel`` (the root for ``""``), or None when there is none (a dangling
        in-tree link of a lower layer counts as none). A link in an upper layer is EACCES."""
        try:
            fd = self._open_host(rel, O_PATH)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(exc) from exc
        except WasiError as exc:
            if exc.errno == Errno.NOENT:  # a folder on the way is missing (the walk)
                return None
            raise
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if stat_mod.S_ISLNK(st.st_mode):  # O_PATH|O_NOFOLLOW opened a link swapped in late
            raise link_refused()
        return st

    def lstat(self, rel: str) -> os.stat_result | None:
        """The entry ``rel`` names itself, never followed (a link is reported as a link)."""
        try:
            with self._parent(rel) as (fd, name):
                return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except WasiError as exc:
            if exc.errno == Errno.NOENT:
                return None
            raise
        except OSError as exc:
            raise self._error(exc) from exc

    def listdir(self, rel: str) -> list[str]:
        fd = self._open(rel, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return os.listdir(fd)
        except OSError as exc:
            raise from_os_error(exc) from exc
        finally:
            os.close(fd)

    # -- opening files ----------------------------------------------------------------------
    @staticmethod
    def _regular(fd: int) -> int:
        """``fd`` when it is a regular file; otherwise closed and refused."""
        try:
            st = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise from_os_error(exc) from exc
        if not stat_mod.S_ISREG(st.st_mode):
            os.close(fd)
            if stat_mod.S_ISDIR(st.st_mode):
                raise WasiError(Errno.ISDIR)
            raise not_regular()
        return fd

    def open_file(self, rel: str, flags: int) -> int:
        """Open the existing regular file at ``rel`` (``O_RDONLY``, ``O_RDWR``, ``O_TRUNC``…).

        ``O_NONBLOCK`` keeps a FIFO from blocking the open (it is refused just after); on a
        regular file Linux ignores it.
        """
        return self._regular(self._open(rel, flags | os.O_NONBLOCK))

    def create_file(self, rel: str, flags: int, mode: int = 0o600) -> int:
        """Open ``rel`` with ``O_CREAT`` among ``flags``, the last name never followed."""
        try:
            with self._parent(rel) as (fd, name):
                opened = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                                 mode, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise link_refused() from exc
            raise from_os_error(exc) from exc
        return self._regular(opened)

    def copy_into(self, source_fd: int, rel: str, limit: int) -> int:
        """Create ``rel`` (it must not exist) with at most ``limit`` bytes read from
        ``source_fd``; returns a read-write descriptor of it, at position 0."""
        target = self.create_file(rel, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        try:
            left = limit
            while left > 0:
                chunk = os.read(source_fd, min(left, _COPY_CHUNK))
                if not chunk:
                    break
                left -= len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(target, view):]
            os.lseek(target, 0, os.SEEK_SET)
        except OSError as exc:
            os.close(target)
            self._discard(rel)
            raise from_os_error(exc) from exc
        return target

    def _discard(self, rel: str) -> None:
        try:
            self.unlink(rel)
        except WasiError as exc:
            log.warning("could not remove the partial copy %s in %s: %s", rel, self.root, exc)

    # -- changing the tree ------------------------------------------------------------------
    def makedirs(self, rel: str) -> None:
        """Make the folder ``rel`` and any missing above it (mode 0700)."""
        os.close(self._dir(rel, create=True))

    def _act(self, rel: str, action: Callable[[str, int], object]) -> None:
        """``action(name, dir_fd)`` on the entry ``rel`` itself; host errors as ``WasiError``."""
        with self._parent(rel) as (fd, name):
            try:
                action(name, fd)
            except OSError as exc:
                raise from_os_error(exc) from exc

    def mkdir(self, rel: str, mode: int = 0o700) -> None:
        self._act(rel, lambda name, fd: os.mkdir(name, mode, dir_fd=fd))

    def unlink(self, rel: str) -> None:
        """Remove the file (or the symlink itself: never its target) at ``rel``."""
        self._act(rel, lambda name, fd: os.unlink(name, dir_fd=fd))

    def rmdir(self, rel: str) -> None:
        self._act(rel, lambda name, fd: os.rmdir(name, dir_fd=fd))

    def rename(self, src: str, dst: str) -> None:
        """``rename(2)`` between two names of this layer; neither name is followed."""
        with self._parent(src) as (src_fd, src_name), self._parent(dst) as (dst_fd, dst_name):
            try:
                os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            except OSError as exc:
                raise from_os_error(exc) from exc

    def set_times(self, rel: str, atime_ns: int, mtime_ns: int) -> None:
        """``utime`` of the entry itself (``AT_SYMLINK_NOFOLLOW``)."""
        self._act(rel, lambda name, fd: os.utime(name, ns=(atime_ns, mtime_ns), dir_fd=fd,
                                                 follow_symlinks=False))
