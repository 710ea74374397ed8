"""Our own ``wasi_snapshot_preview1``, implemented in Python over the virtual filesystem.

Why not wasmtime's ``define_wasi()``: we need quotas, an fd table we can snapshot, stdout and
stderr delivered straight to the kernel, a ``poll_oneoff`` that wakes up for interrupts and
deadlines (wasmtime's blocks the thread), and none of wasmtime 49's WASI advisories. Sockets
answer ENOTSUP. The only preopen is ``/`` (fd 3); mounts are resolved inside the VFS.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from .vfs import (
    FILETYPE_DIRECTORY,
    FILETYPE_REGULAR,
    FILETYPE_UNKNOWN,
    LayeredMount,
    Stat,
    VirtualFS,
    inode,
    normalize,
    set_host_times,
)
from .wasi_errno import Errno, WasiError, from_os_error
from .wasmtime_private import memory_view

FILETYPE_CHARACTER_DEVICE = 2
RIGHTS_ALL = (1 << 30) - 1
RIGHT_FD_WRITE = 1 << 6
RIGHT_FD_SEEK = 1 << 2
RIGHT_FD_TELL = 1 << 5
RIGHTS_STDIO = RIGHTS_ALL & ~(RIGHT_FD_SEEK | RIGHT_FD_TELL)
OFLAG_CREAT, OFLAG_DIRECTORY, OFLAG_EXCL, OFLAG_TRUNC = 1, 2, 4, 8
FSTFLAG_ATIM, FSTFLAG_ATIM_NOW, FSTFLAG_MTIM, FSTFLAG_MTIM_NOW = 1, 2, 4, 8
FDFLAG_APPEND = 1
PREOPEN_FD = 3
MAX_OPEN_FILES = 1024
# Lengths and counts come from the guest: each is bounded before the host allocates for it.
#: POSIX's IOV_MAX: more iovecs in one read or write is EINVAL.
MAX_IOVECS = 1024
#: One write to stdout/stderr hands over at most this much (a short write, as a pipe makes);
#: the guest's libc writes the rest in later calls, each counted against the output cap.
MAX_STDIO_WRITE = 1 << 20
#: The longest path accepted from the guest (Linux's PATH_MAX): ENAMETOOLONG beyond.
MAX_PATH_BYTES = 4096
#: The most subscriptions one ``poll_oneoff`` may wait on: EINVAL beyond.
MAX_POLL_SUBSCRIPTIONS = 4096
#: ``random_get`` fills the guest's buffer in pieces of this size.
RANDOM_CHUNK = 1 << 16
#: How long one wait inside ``poll_oneoff`` may last before checking for interrupts.
POLL_SLICE = 0.01

_I32 = wasmtime.ValType.i32()
_I64 = wasmtime.ValType.i64()


class GuestMemory:
    """The guest's linear memory as the WASI functions see it: every access is checked, so a
    pointer or length from the guest that leaves memory is EFAULT, never a silently clamped
    slice or a negative (from-the-end) index."""

    __slots__ = ("view",)

    def __init__(self, view: memoryview) -> None:
        self.view = view

    def _span(self, ptr: int, length: int) -> int:
        start = ptr & 0xFFFFFFFF  # wasm pointers are unsigned 32-bit
        if length < 0 or start + length > len(self.view):
            raise WasiError(Errno.FAULT, "pointer outside the guest's memory")
        return start

    def read(self, ptr: int, length: int) -> bytes:
        start = self._span(ptr, length)
        return bytes(self.view[start : start + length])

    def window(self, ptr: int, length: int) -> memoryview:
        """The guest bytes at ``ptr`` as a writable view, without copying (for ``readv`` /
        ``writev`` straight from and into guest memory). Valid during this call only."""
        start = self._span(ptr, length)
        return self.view[start : start + length]

    def write(self, ptr: int, data: bytes) -> None:
        start = self._span(ptr, len(data))
        self.view[start : start + len(data)] = data

    def pack(self, fmt: str, ptr: int, *values: object) -> None:
        start = self._span(ptr, struct.calcsize(fmt))
        struct.pack_into(fmt, self.view, start, *values)

    def unpack(self, fmt: str, ptr: int) -> tuple[Any, ...]:
        start = self._span(ptr, struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.view, start)


class ProcExit(Exception):
    """The guest called ``proc_exit``; the instance cannot continue."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the guest exited with status {code}")
        self.code = code


@dataclass
class StdStream:
    """fd 0, 1 or 2. Writes go to the sink; reads see end of file (or ``read_input``).

    ``tty``: shown as a terminal (a character device: ``isatty()`` is true), as the
    notebook's streams are; a sandbox process's stdio are pipes (unknown file type, so
    ``isatty()`` is false and programs neither colour nor line-buffer their output)."""

    fileno: int
    tty: bool = True


@dataclass
class DirHandle:
    """An open folder. ``listing`` is the folder's entries as of the last ``fd_readdir`` at
    cookie 0 (opendir/rewinddir): later calls page through that same list, so a guest that
    deletes entries while it iterates (``for e in os.scandir(d): os.remove(e)``) skips none."""

    guest_path: str
    listing: list[str] | None = field(default=None, compare=False, repr=False)


@dataclass
class FileHandle:
    """An open regular file: a host fd, and the mount whose quota its growth charges.

    ``orphan_bytes``: growth charged while the file was already unlinked (``TemporaryFile``
    unlinks at once and writes on). Unlinking refunded only the size it had then, so these
    bytes are refunded when the handle closes and the host frees them.
    """

    guest_path: str
    host_fd: int
    writable: bool
    append: bool
    quota_mount: LayeredMount | None = None
    orphan_bytes: int = 0

    def release(self) -> None:
        """Close the host fd and give back what the quota still holds for an unlinked file."""
        try:
            os.close(self.host_fd)
        finally:
            if self.orphan_bytes and self.quota_mount and self.quota_mount.quota:
                self.quota_mount.quota.charge(-self.orphan_bytes, 0)
            self.orphan_bytes = 0


Handle = StdStream | DirHandle | FileHandle


@dataclass
class WasiState:
    """Everything about the guest's view of the world that lives outside linear memory."""

    vfs: VirtualFS
    args: list[str]
    env: dict[str, str]
    write_output: Callable[[int, bytes], None]
    #: Set from any thread to wake a sleeping guest (interrupt, deadline).
    wakeup: threading.Event = field(default_factory=threading.Event)
    fds: dict[int, Handle] = field(default_factory=dict)
    monotonic_offset_ns: int = 0
    #: What a read of fd 0 returns: given the most bytes wanted, at least one byte, or b""
    #: at end of input (a sandbox process's stdin pipe, runtime/processes/). It may block;
    #: it raises ``WasiError(Errno.INTR)`` when ``wakeup`` is set (interrupt, kill). None:
    #: fd 0 is always at end of file (the notebook's guest).
    read_input: Callable[[int], bytes] | None = None
    #: True (sandbox processes): an interrupt's wake-up stays set when the interrupt is
    #: delivered and is consumed by the next ``poll_oneoff``, which returns at once. An
    #: interrupt delivered inside ``time.sleep``'s C code, after Python's last signal check
    #: and before its poll, then still cuts the sleep short (cleared, the poll slept its
    #: whole time). The notebook's guest keeps False: its SIGINT handler asks the host
    #: first, and clearing on delivery spares a later sleep in the same cell.
    wakeup_until_polled: bool = False

    def __post_init__(self) -> None:
        if not self.fds:
            self.fds = {0: StdStream(0), 1: StdStream(1), 2: StdStream(2),
                        PREOPEN_FD: DirHandle("/")}

    def describe_fds(self) -> list[dict[str, object]]:
        """The fd table as plain data, for a snapshot (positions read from the host fds)."""
        table: list[dict[str, object]] = []
        for fd, handle in sorted(self.fds.items()):
            if isinstance(handle, FileHandle):
                table.append({"fd": fd, "kind": "file", "path": handle.guest_path,
                              "writable": handle.writable, "append": handle.append,
                              "position": os.lseek(handle.host_fd, 0, os.SEEK_CUR)})
            elif isinstance(handle, DirHandle):
                table.append({"fd": fd, "kind": "dir", "path": handle.guest_path})
        return table

    def reopen_fds(self, table: list[dict[str, object]]) -> list[str]:
        """Rebuild the fd table from ``describe_fds`` output after the files were restored,
        so a kept file object writes to its own file. Returns the paths that could not be
        reopened (their fds stay closed: the guest gets EBADF)."""
        lost = []
        for entry in table:
            fd, path = int(entry["fd"]), str(entry["path"])  # type: ignore[call-overload]
            if entry["kind"] == "dir":
                self.fds[fd] = DirHandle(path)
                continue
            writable = bool(entry["writable"])
            try:
                host_fd, mount = self.vfs.open_file(path, write=writable, create=False,
                                                    exclusive=False, truncate=False)
            except WasiError:
                lost.append(path)
                continue
            os.lseek(host_fd, int(entry["position"]), os.SEEK_SET)  # type: ignore[call-overload]
            self.fds[fd] = FileHandle(path, host_fd, writable, bool(entry["append"]), mount)
        return lost

    def close_all(self) -> None:
        for handle in self.fds.values():
            if isinstance(handle, FileHandle):
                try:
                    handle.release()
                except OSError:
                    pass  # already closed on the host: nothing left to free
        self.fds.clear()


def _signature(n_i32: int = 0, *, i64_at: tuple[int, ...] = (),
               n: int | None = None) -> wasmtime.FuncType:
    count = n if n is not None else n_i32
    params = [_I64 if i in i64_at else _I32 for i in range(count)]
    return wasmtime.FuncType(params, [_I32])


class Wasi:
    """The WASI function table of one sandbox. Defined on a ``Linker``; reads and writes guest
    memory through the instance's exported memory, set with ``attach``."""

    def __init__(self, state: WasiState) -> None:
        self.state = state
        self._memory: wasmtime.Memory | None = None

    def attach(self, memory: wasmtime.Memory) -> None:
        self._memory = memory

    # -- guest memory -------------------------------------------------------------------
    def _mem(self, caller: wasmtime.Caller) -> GuestMemory:
        memory = self._memory
        if memory is None:
            export = caller["memory"]
            if not isinstance(export, wasmtime.Memory):
                raise WasiError(Errno.FAULT, "the guest's 'memory' export is not a memory")
            memory = self._memory = export
        return GuestMemory(memory_view(memory, caller))

    @staticmethod
    def _string(mem: GuestMemory, ptr: int, length: int) -> str:
        if not 0 <= length <= MAX_PATH_BYTES:  # a negative i32 is a length past 2 GiB
            raise WasiError(Errno.NAMETOOLONG, "path longer than PATH_MAX")
        raw = mem.read(ptr, length)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WasiError(Errno.ILSEQ, "path is not UTF-8") from exc

    def _handle(self, fd: int) -> Handle:
        handle = self.state.fds.get(fd)
        if handle is None:
            raise WasiError(Errno.BADF)
        return handle

    def _dir(self, fd: int) -> DirHandle:
        handle = self._handle(fd)
        if not isinstance(handle, DirHandle):
            raise WasiError(Errno.NOTDIR)
        return handle

    def _path(self, mem: GuestMemory, dirfd: int, ptr: int, length: int) -> str:
        """The guest path, normalised. A trailing slash (``"file.txt/"``) insists on a folder:
        ENOTDIR when the path is something else, as in POSIX."""
        raw = self._string(mem, ptr, length)
        path = normalize(raw, self._dir(dirfd).guest_path)
        if raw.endswith("/") and path != "/":
            try:
                is_dir = self.state.vfs.is_dir(path)
            except WasiError as exc:
                if exc.errno != Errno.NOENT:
                    raise
            else:
                if not is_dir:
                    raise WasiError(Errno.NOTDIR, "a trailing slash needs a folder")
        return path

    @staticmethod
    def _has_trailing_slash(mem: GuestMemory, ptr: int, length: int) -> bool:
        return length > 1 and mem.read(ptr + length - 1, 1) == b"/"

    # -- registration -------------------------------------------------------------------
    def define(self, linker: wasmtime.Linker) -> None:
        table: dict[str, tuple[wasmtime.FuncType, Callable[..., int]]] = {
            "args_get": (_signature(2), self.args_get),
            "args_sizes_get": (_signature(2), self.args_sizes_get),
            "environ_get": (_signature(2), self.environ_get),
            "environ_sizes_get": (_signature(2), self.environ_sizes_get),
            "clock_res_get": (_signature(2), self.clock_res_get),
            "clock_time_get": (_signature(n=3, i64_at=(1,)), self.clock_time_get),
            "fd_advise": (_signature(n=4, i64_at=(1, 2)), self.fd_ok),
            "fd_close": (_signature(1), self.fd_close),
            "fd_datasync": (_signature(1), self.fd_sync),
            "fd_sync": (_signature(1), self.fd_sync),
            "fd_fdstat_get": (_signature(2), self.fd_fdstat_get),
            "fd_fdstat_set_flags": (_signature(2), self.fd_fdstat_set_flags),
            "fd_filestat_get": (_signature(2), self.fd_filestat_get),
            "fd_filestat_set_size": (_signature(n=2, i64_at=(1,)), self.fd_filestat_set_size),
            "fd_filestat_set_times": (_signature(n=4, i64_at=(1, 2)), self.fd_filestat_set_times),
            "fd_pread": (_signature(n=5, i64_at=(3,)), self.fd_pread),
            "fd_pwrite": (_signature(n=5, i64_at=(3,)), self.fd_pwrite),
            "fd_prestat_get": (_signature(2), self.fd_prestat_get),
            "fd_prestat_dir_name": (_signature(3), self.fd_prestat_dir_name),
            "fd_read": (_signature(4), self.fd_read),
            "fd_write": (_signature(4), self.fd_write),
            "fd_readdir": (_signature(n=5, i64_at=(3,)), self.fd_readdir),
            "fd_seek": (_signature(n=4, i64_at=(1,)), self.fd_seek),
            "fd_tell": (_signature(2), self.fd_tell),
            "path_create_directory": (_signature(3), self.path_create_directory),
            "path_filestat_get": (_signature(5), self.path_filestat_get),
            "path_filestat_set_times": (_signature(n=7, i64_at=(4, 5)),
                                        self.path_filestat_set_times),
            "path_link": (_signature(7), self.not_supported),
            "path_symlink": (_signature(5), self.not_supported),
            "path_open": (_signature(n=9, i64_at=(5, 6)), self.path_open),
            "path_readlink": (_signature(6), self.path_readlink),
            "path_remove_directory": (_signature(3), self.path_remove_directory),
            "path_rename": (_signature(6), self.path_rename),
            "path_unlink_file": (_signature(3), self.path_unlink_file),
            "poll_oneoff": (_signature(4), self.poll_oneoff),
            "random_get": (_signature(2), self.random_get),
            "sched_yield": (_signature(0), self.fd_ok),
            "sock_accept": (_signature(3), self.not_supported),
            "sock_recv": (_signature(6), self.not_supported),
            "sock_send": (_signature(5), self.not_supported),
            "sock_shutdown": (_signature(2), self.not_supported),
        }
        for name, (ty, func) in table.items():
            linker.define_func("wasi_snapshot_preview1", name, ty, self._guarded(func),
                               access_caller=True)
        linker.define_func("wasi_snapshot_preview1", "proc_exit",
                           wasmtime.FuncType([_I32], []), self.proc_exit, access_caller=True)

    @staticmethod
    def _guarded(func: Callable[..., int]) -> Callable[..., int]:
        """Turn WasiError / OSError into an errno result, and a pointer or length outside the
        guest's memory (hostile or buggy guest code) into EFAULT instead of a trap."""

        def call(caller: wasmtime.Caller, *args: int) -> int:
            try:
                return func(caller, *args)
            except WasiError as exc:
                return int(exc.errno)
            except OSError as exc:
                return int(from_os_error(exc).errno)
            except (IndexError, ValueError, struct.error, OverflowError):
                return int(Errno.FAULT)

        call.__name__ = func.__name__
        return call

    # -- args, environment, clocks, random ----------------------------------------------
    def _write_strings(self, caller: wasmtime.Caller, items: list[str], ptrs: int, buf: int) -> int:
        mem = self._mem(caller)
        offset = buf
        for i, item in enumerate(items):
            raw = item.encode() + b"\x00"
            mem.pack("<I", ptrs + 4 * i, offset)
            mem.write(offset, raw)
            offset += len(raw)
        return 0

    def _sizes(self, caller: wasmtime.Caller, items: list[str], count_ptr: int,
               size_ptr: int) -> int:
        mem = self._mem(caller)
        mem.pack("<I", count_ptr, len(items))
        mem.pack("<I", size_ptr, sum(len(i.encode()) + 1 for i in items))
        return 0

    def _env_items(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.state.env.items()]

    def args_get(self, caller: wasmtime.Caller, argv: int, buf: int) -> int:
        return self._write_strings(caller, self.state.args, argv, buf)

    def args_sizes_get(self, caller: wasmtime.Caller, count: int, size: int) -> int:
        return self._sizes(caller, self.state.args, count, size)

    def environ_get(self, caller: wasmtime.Caller, env: int, buf: int) -> int:
        return self._write_strings(caller, self._env_items(), env, buf)

    def environ_sizes_get(self, caller: wasmtime.Caller, count: int, size: int) -> int:
        return self._sizes(caller, self._env_items(), count, size)

    def clock_res_get(self, caller: wasmtime.Caller, clock_id: int, out: int) -> int:
        self._mem(caller).pack("<Q", out, 1000)
        return 0

    def now_ns(self, clock_id: int) -> int:
        if clock_id == 0:
            return time.time_ns()
        if clock_id == 1:
            return time.monotonic_ns() + self.state.monotonic_offset_ns
        if clock_id in (2, 3):
            return time.thread_time_ns()
        raise WasiError(Errno.INVAL, "unknown clock")

    def clock_time_get(self, caller: wasmtime.Caller, clock_id: int, _precision: int,
                       out: int) -> int:
        self._mem(caller).pack("<Q", out, self.now_ns(clock_id))
        return 0

    def random_get(self, caller: wasmtime.Caller, buf: int, length: int) -> int:
        mem = self._mem(caller)
        length &= 0xFFFFFFFF
        window = mem.window(buf, length)  # EFAULT before any random byte is made
        for offset in range(0, length, RANDOM_CHUNK):
            piece = min(RANDOM_CHUNK, length - offset)
            window[offset : offset + piece] = os.urandom(piece)
        return 0

    def fd_ok(self, caller: wasmtime.Caller, *_args: int) -> int:
        return 0

    def not_supported(self, caller: wasmtime.Caller, *_args: int) -> int:
        return int(Errno.NOTSUP)

    def proc_exit(self, caller: wasmtime.Caller, code: int) -> None:
        raise ProcExit(code)

    # -- descriptors ----------------------------------------------------------------------
    def fd_prestat_get(self, caller: wasmtime.Caller, fd: int, out: int) -> int:
        if fd != PREOPEN_FD:
            return int(Errno.BADF)
        self._mem(caller).pack("<BxxxI", out, 0, 1)
        return 0

    def fd_prestat_dir_name(self, caller: wasmtime.Caller, fd: int, buf: int, length: int) -> int:
        if fd != PREOPEN_FD:
            return int(Errno.BADF)
        if length < 1:
            return int(Errno.NAMETOOLONG)
        self._mem(caller).write(buf, b"/")
        return 0

    def fd_close(self, caller: wasmtime.Caller, fd: int) -> int:
        handle = self.state.fds.pop(fd, None)
        if handle is None:
            return int(Errno.BADF)
        if isinstance(handle, FileHandle):
            handle.release()
        return 0

    def fd_sync(self, caller: wasmtime.Caller, fd: int) -> int:
        self._handle(fd)
        return 0

    def fd_fdstat_get(self, caller: wasmtime.Caller, fd: int, out: int) -> int:
        handle = self._handle(fd)
        flags = 0
        if isinstance(handle, StdStream):
            kind = FILETYPE_CHARACTER_DEVICE if handle.tty else FILETYPE_UNKNOWN
            rights = RIGHTS_STDIO
        elif isinstance(handle, DirHandle):
            kind, rights = FILETYPE_DIRECTORY, RIGHTS_ALL
        else:
            kind, rights = FILETYPE_REGULAR, RIGHTS_ALL
            flags = FDFLAG_APPEND if handle.append else 0
        self._mem(caller).pack("<BxHxxxxQQ", out, kind, flags, rights, rights)
        return 0

    def fd_fdstat_set_flags(self, caller: wasmtime.Caller, fd: int, flags: int) -> int:
        handle = self._handle(fd)
        if isinstance(handle, FileHandle):
            handle.append = bool(flags & FDFLAG_APPEND)
        return 0

    def _write_filestat(self, caller: wasmtime.Caller, out: int, st: Stat) -> None:
        self._mem(caller).pack("<QQBxxxxxxxQQQQQ", out, 0, st.ino, st.filetype,
                         st.nlink, st.size, st.atime_ns, st.mtime_ns, st.ctime_ns)

    def _handle_stat(self, handle: Handle) -> Stat:
        if isinstance(handle, StdStream):
            kind = FILETYPE_CHARACTER_DEVICE if handle.tty else FILETYPE_UNKNOWN
            return Stat(kind, 0, 0, 0, 0, 10 + handle.fileno)
        if isinstance(handle, DirHandle):
            return self.state.vfs.stat(handle.guest_path)
        st = os.fstat(handle.host_fd)
        return Stat(FILETYPE_REGULAR, st.st_size, st.st_mtime_ns, st.st_atime_ns,
                    st.st_ctime_ns, inode(handle.guest_path))

    def fd_filestat_get(self, caller: wasmtime.Caller, fd: int, out: int) -> int:
        self._write_filestat(caller, out, self._handle_stat(self._handle(fd)))
        return 0

    def _writable_file(self, fd: int) -> FileHandle:
        handle = self._handle(fd)
        if isinstance(handle, DirHandle):
            raise WasiError(Errno.ISDIR)
        if not isinstance(handle, FileHandle) or not handle.writable:
            raise WasiError(Errno.BADF, "not open for writing")
        return handle

    def _charge_growth(self, handle: FileHandle, end: int) -> int:
        """Charge the quota for growing the file to ``end``; return the bytes charged."""
        if handle.quota_mount is None or handle.quota_mount.quota is None:
            return 0
        st = os.fstat(handle.host_fd)
        if end <= st.st_size:
            return 0
        handle.quota_mount.quota.charge(end - st.st_size, 0)
        if st.st_nlink == 0:
            handle.orphan_bytes += end - st.st_size
        return end - st.st_size

    def _refund(self, handle: FileHandle, nbytes: int) -> None:
        """Give back ``nbytes`` of this file's charge (it shrank, or a write failed)."""
        quota = handle.quota_mount.quota if handle.quota_mount else None
        if quota is None or nbytes <= 0:
            return
        if os.fstat(handle.host_fd).st_nlink == 0:
            # Unlinking already refunded the size it had then; only later growth is still held.
            nbytes = min(nbytes, handle.orphan_bytes)
            handle.orphan_bytes -= nbytes
        quota.charge(-nbytes, 0)

    def fd_filestat_set_size(self, caller: wasmtime.Caller, fd: int, size: int) -> int:
        handle = self._writable_file(fd)
        if size < 0:
            return int(Errno.INVAL)
        old = os.fstat(handle.host_fd).st_size
        charged = self._charge_growth(handle, size)
        try:
            os.ftruncate(handle.host_fd, size)
        except OSError:
            self._refund(handle, charged)
            raise
        self._refund(handle, old - size)
        return 0

    def _times(self, atime: int, mtime: int, flags: int) -> tuple[int | None, int | None]:
        if (flags & FSTFLAG_ATIM and flags & FSTFLAG_ATIM_NOW) or (
                flags & FSTFLAG_MTIM and flags & FSTFLAG_MTIM_NOW):
            raise WasiError(Errno.INVAL, "a time cannot be both given and 'now'")
        now = time.time_ns()
        atime_ns = atime if flags & FSTFLAG_ATIM else now if flags & FSTFLAG_ATIM_NOW else None
        mtime_ns = mtime if flags & FSTFLAG_MTIM else now if flags & FSTFLAG_MTIM_NOW else None
        return atime_ns, mtime_ns

    def fd_filestat_set_times(self, caller: wasmtime.Caller, fd: int, atime: int, mtime: int,
                              flags: int) -> int:
        handle = self._handle(fd)
        atime_ns, mtime_ns = self._times(atime, mtime, flags)
        if atime_ns is None and mtime_ns is None or isinstance(handle, StdStream):
            return 0
        if isinstance(handle, FileHandle) and handle.writable:
            set_host_times(handle.host_fd, atime_ns, mtime_ns)
        else:  # a folder, or a file opened for reading (maybe of the read-only layer)
            self.state.vfs.set_times(handle.guest_path, atime_ns, mtime_ns)
        return 0

    def _iovecs(self, mem: GuestMemory, iovs: int, count: int) -> list[tuple[int, int]]:
        """The (pointer, length) pairs of an iovec array, each checked to lie inside guest
        memory (EFAULT) and at most ``MAX_IOVECS`` of them (EINVAL), before anything moves."""
        count &= 0xFFFFFFFF
        if count > MAX_IOVECS:
            raise WasiError(Errno.INVAL, "more iovecs than IOV_MAX")
        vectors = [mem.unpack("<II", iovs + 8 * i) for i in range(count)]
        for buf, length in vectors:
            mem.window(buf, length)
        return [(buf, length) for buf, length in vectors if length]

    def fd_read(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, nread: int) -> int:
        return self._read(caller, fd, iovs, count, nread, None)

    def fd_pread(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, offset: int,
                 nread: int) -> int:
        return self._read(caller, fd, iovs, count, nread, offset)

    def _read(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, nread: int,
              offset: int | None) -> int:
        handle = self._handle(fd)
        mem = self._mem(caller)
        if isinstance(handle, DirHandle):
            return int(Errno.ISDIR)
        vectors = self._iovecs(mem, iovs, count)
        total = 0
        if isinstance(handle, FileHandle) and vectors:
            # Straight into guest memory: the host allocates nothing for a guest-given length.
            windows = [mem.window(buf, length) for buf, length in vectors]
            if offset is None:
                total = os.readv(handle.host_fd, windows)
            else:
                total = os.preadv(handle.host_fd, windows, offset)
        elif (isinstance(handle, StdStream) and handle.fileno == 0 and vectors
              and self.state.read_input is not None):
            data = self.state.read_input(sum(length for _buf, length in vectors))
            for buf, length in vectors:
                if total >= len(data):
                    break
                piece = data[total : total + length]
                mem.write(buf, piece)
                total += len(piece)
        mem.pack("<I", nread, total)
        return 0

    def fd_write(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int,
                 nwritten: int) -> int:
        return self._write(caller, fd, iovs, count, nwritten, None)

    def fd_pwrite(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, offset: int,
                  nwritten: int) -> int:
        return self._write(caller, fd, iovs, count, nwritten, offset)

    def _write(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, nwritten: int,
               offset: int | None) -> int:
        handle = self._handle(fd)
        mem = self._mem(caller)
        vectors = self._iovecs(mem, iovs, count)  # bounded and checked before any copy
        if isinstance(handle, StdStream):
            if handle.fileno == 0:
                return int(Errno.BADF)
            # A short write of at most MAX_STDIO_WRITE bytes: the host copies no more.
            pieces, taken = [], 0
            for buf, length in vectors:
                piece = min(length, MAX_STDIO_WRITE - taken)
                pieces.append(mem.read(buf, piece))
                taken += piece
                if taken >= MAX_STDIO_WRITE:
                    break
            data = b"".join(pieces)
            self.state.write_output(handle.fileno, data)
            mem.pack("<I", nwritten, len(data))
            return 0
        handle = self._writable_file(fd)
        total = sum(length for _buf, length in vectors)
        if handle.append:
            position = os.fstat(handle.host_fd).st_size
        elif offset is not None:
            position = offset
        else:
            position = os.lseek(handle.host_fd, 0, os.SEEK_CUR)
        charged = self._charge_growth(handle, position + total)  # the quota, before writing
        windows = [mem.window(buf, length) for buf, length in vectors]  # no copies
        try:
            if not windows:
                written = 0
            elif offset is not None:
                written = os.pwritev(handle.host_fd, windows, offset)
            else:
                if handle.append:
                    os.lseek(handle.host_fd, 0, os.SEEK_END)
                written = os.writev(handle.host_fd, windows)
        except OSError:
            self._refund(handle, charged)  # e.g. the host disk is full
            raise
        self._refund(handle, min(charged, total - written))
        mem.pack("<I", nwritten, written)
        return 0

    def fd_seek(self, caller: wasmtime.Caller, fd: int, offset: int, whence: int, out: int) -> int:
        handle = self._handle(fd)
        if not isinstance(handle, FileHandle):
            return int(Errno.SPIPE if isinstance(handle, StdStream) else Errno.BADF)
        if whence not in (0, 1, 2):
            return int(Errno.INVAL)
        how = {0: os.SEEK_SET, 1: os.SEEK_CUR, 2: os.SEEK_END}[whence]
        position = os.lseek(handle.host_fd, offset, how)
        self._mem(caller).pack("<Q", out, position)
        return 0

    def fd_tell(self, caller: wasmtime.Caller, fd: int, out: int) -> int:
        return self.fd_seek(caller, fd, 0, 1, out)

    def fd_readdir(self, caller: wasmtime.Caller, fd: int, buf: int, length: int, cookie: int,
                   used: int) -> int:
        handle = self._handle(fd)
        if not isinstance(handle, DirHandle):
            return int(Errno.NOTDIR)
        vfs = self.state.vfs
        if cookie == 0 or handle.listing is None:
            handle.listing = [".", ".."] + vfs.listdir(handle.guest_path)
        names = handle.listing
        mem = self._mem(caller)
        out = bytearray()
        for index in range(max(cookie, 0), len(names)):
            name = names[index]
            path = normalize(name, handle.guest_path)
            if name in (".", ".."):
                kind = FILETYPE_DIRECTORY
            else:
                try:
                    kind = vfs.stat(path).filetype
                except WasiError:
                    kind = 0
            raw = name.encode("utf-8", "surrogateescape")
            out += struct.pack("<QQIBxxx", index + 1, inode(path), len(raw), kind) + raw
            if len(out) >= length:
                break
        chunk = bytes(out[:length])
        mem.write(buf, chunk)
        mem.pack("<I", used, len(chunk))
        return 0

    # -- paths ----------------------------------------------------------------------------
    def path_open(self, caller: wasmtime.Caller, dirfd: int, _dirflags: int, path_ptr: int,
                  path_len: int, oflags: int, rights: int, _inheriting: int, fdflags: int,
                  fd_out: int) -> int:
        mem = self._mem(caller)
        path = self._path(mem, dirfd, path_ptr, path_len)
        if len(self.state.fds) >= MAX_OPEN_FILES:
            return int(Errno.MFILE)
        vfs = self.state.vfs
        write = bool(rights & RIGHT_FD_WRITE) or bool(oflags & OFLAG_TRUNC)
        handle: Handle
        wants_dir = bool(oflags & OFLAG_DIRECTORY) or self._has_trailing_slash(mem, path_ptr,
                                                                              path_len)
        try:
            is_dir = vfs.is_dir(path)
        except WasiError as exc:
            if exc.errno != Errno.NOENT or not oflags & OFLAG_CREAT or wants_dir:
                raise
            is_dir = False
        if is_dir:
            if oflags & OFLAG_EXCL:
                return int(Errno.EXIST)
            if write:
                return int(Errno.ISDIR)
            handle = DirHandle(path)
        else:
            if wants_dir:
                return int(Errno.NOTDIR)
            host_fd, quota_mount = vfs.open_file(
                path, write=write, create=bool(oflags & OFLAG_CREAT),
                exclusive=bool(oflags & OFLAG_EXCL), truncate=bool(oflags & OFLAG_TRUNC))
            handle = FileHandle(path, host_fd, write, bool(fdflags & FDFLAG_APPEND), quota_mount)
        fd = self._next_fd()
        self.state.fds[fd] = handle
        mem.pack("<I", fd_out, fd)
        return 0

    def _next_fd(self) -> int:
        fd = PREOPEN_FD + 1
        while fd in self.state.fds:
            fd += 1
        return fd

    def path_filestat_get(self, caller: wasmtime.Caller, dirfd: int, _flags: int, path_ptr: int,
                          path_len: int, out: int) -> int:
        path = self._path(self._mem(caller), dirfd, path_ptr, path_len)
        self._write_filestat(caller, out, self.state.vfs.stat(path))
        return 0

    def path_filestat_set_times(self, caller: wasmtime.Caller, dirfd: int, _flags: int,
                                path_ptr: int, path_len: int, atime: int, mtime: int,
                                flags: int) -> int:
        path = self._path(self._mem(caller), dirfd, path_ptr, path_len)
        atime_ns, mtime_ns = self._times(atime, mtime, flags)
        if atime_ns is None and mtime_ns is None:
            self.state.vfs.stat(path)
            return 0
        self.state.vfs.set_times(path, atime_ns, mtime_ns)
        return 0

    def path_readlink(self, caller: wasmtime.Caller, dirfd: int, path_ptr: int, path_len: int,
                      *_rest: int) -> int:
        self.state.vfs.stat(self._path(self._mem(caller), dirfd, path_ptr, path_len))
        return int(Errno.INVAL)  # nothing in the sandbox is a symlink

    def path_create_directory(self, caller: wasmtime.Caller, dirfd: int, ptr: int,
                              length: int) -> int:
        self.state.vfs.mkdir(self._path(self._mem(caller), dirfd, ptr, length))
        return 0

    def path_remove_directory(self, caller: wasmtime.Caller, dirfd: int, ptr: int,
                              length: int) -> int:
        self.state.vfs.rmdir(self._path(self._mem(caller), dirfd, ptr, length))
        return 0

    def path_unlink_file(self, caller: wasmtime.Caller, dirfd: int, ptr: int, length: int) -> int:
        self.state.vfs.unlink(self._path(self._mem(caller), dirfd, ptr, length))
        return 0

    def path_rename(self, caller: wasmtime.Caller, src_fd: int, src_ptr: int, src_len: int,
                    dst_fd: int, dst_ptr: int, dst_len: int) -> int:
        mem = self._mem(caller)
        self.state.vfs.rename(self._path(mem, src_fd, src_ptr, src_len),
                              self._path(mem, dst_fd, dst_ptr, dst_len))
        return 0

    # -- waiting --------------------------------------------------------------------------
    def poll_oneoff(self, caller: wasmtime.Caller, subs: int, events: int, count: int,
                    nevents: int) -> int:
        """Clock subscriptions sleep in slices so ``wakeup`` (interrupt/deadline) cuts them
        short; fd subscriptions are always ready (stdio never blocks, files are regular)."""
        mem = self._mem(caller)
        count &= 0xFFFFFFFF
        if count > MAX_POLL_SUBSCRIPTIONS:
            return int(Errno.INVAL)
        ready: list[bytes] = []
        deadline: float | None = None
        clock_subs: list[tuple[int, float]] = []
        for i in range(count):
            base = subs + 48 * i
            userdata, tag = mem.unpack("<QB", base)
            if tag == 0:
                clock_id, timeout, _precision, flags = mem.unpack("<IxxxxQQH", base + 16)
                if flags & 1:  # absolute time
                    wait_ns = timeout - self.now_ns(clock_id)
                else:
                    wait_ns = timeout
                due = time.monotonic() + max(wait_ns, 0) / 1e9
                clock_subs.append((userdata, due))
                deadline = due if deadline is None else min(deadline, due)
            else:
                ready.append(struct.pack("<QHBxxxxxQHxxxxxx", userdata, 0, tag, 0, 0))
        if not ready and deadline is not None:
            while not self.state.wakeup.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.state.wakeup.wait(min(remaining, POLL_SLICE))
            now = time.monotonic()
            woken = self.state.wakeup.is_set()
            for userdata, due in clock_subs:
                if due <= now or woken:
                    ready.append(struct.pack("<QHBxxxxxQHxxxxxx", userdata, 0, 0, 0, 0))
                    if woken:
                        break
            if woken and self.state.wakeup_until_polled:
                self.state.wakeup.clear()  # consumed: the interrupt is delivered by now
        for i, event in enumerate(ready):
            mem.write(events + 32 * i, event)
        mem.pack("<I", nevents, len(ready))
        return 0
