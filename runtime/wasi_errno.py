"""WASI preview1 error numbers, and the mapping from host ``errno`` values onto them."""

from __future__ import annotations

import errno as host_errno
from enum import IntEnum


class Errno(IntEnum):
    SUCCESS = 0
    TOOBIG = 1
    ACCES = 2
    AGAIN = 6
    BADF = 8
    BUSY = 10
    DQUOT = 19
    EXIST = 20
    FAULT = 21
    FBIG = 22
    ILSEQ = 25
    INTR = 27
    INVAL = 28
    IO = 29
    ISDIR = 31
    LOOP = 32
    MFILE = 33
    NAMETOOLONG = 37
    NOENT = 44
    NOMEM = 48
    NOSPC = 51
    NOSYS = 52
    NOTDIR = 54
    NOTEMPTY = 55
    NOTSOCK = 57
    NOTSUP = 58
    NOTTY = 59
    OVERFLOW = 61
    PERM = 63
    PIPE = 64
    ROFS = 69
    SPIPE = 70
    XDEV = 75
    NOTCAPABLE = 76


class WasiError(Exception):
    """Raised inside the host's WASI implementation; the call returns ``errno`` to the guest.

    Used only between the VFS and the WASI function table, never across the public API.
    """

    def __init__(self, errno: Errno, detail: str = "") -> None:
        super().__init__(f"{errno.name}: {detail}" if detail else errno.name)
        self.errno = errno


_FROM_HOST = {
    host_errno.EACCES: Errno.ACCES,
    host_errno.EPERM: Errno.PERM,
    host_errno.ENOENT: Errno.NOENT,
    host_errno.EEXIST: Errno.EXIST,
    host_errno.ENOTDIR: Errno.NOTDIR,
    host_errno.EISDIR: Errno.ISDIR,
    host_errno.ENOTEMPTY: Errno.NOTEMPTY,
    host_errno.EINVAL: Errno.INVAL,
    host_errno.ENOSPC: Errno.NOSPC,
    host_errno.EDQUOT: Errno.DQUOT,
    host_errno.ENAMETOOLONG: Errno.NAMETOOLONG,
    host_errno.ELOOP: Errno.LOOP,
    host_errno.EROFS: Errno.ROFS,
    host_errno.EXDEV: Errno.XDEV,
    host_errno.EBADF: Errno.BADF,
    host_errno.ESPIPE: Errno.SPIPE,
    host_errno.EFBIG: Errno.FBIG,
    host_errno.EBUSY: Errno.BUSY,
}


def from_os_error(exc: OSError) -> WasiError:
    """Translate a host ``OSError`` into the WASI error the guest should see."""
    return WasiError(_FROM_HOST.get(exc.errno or 0, Errno.IO), exc.strerror or "")
