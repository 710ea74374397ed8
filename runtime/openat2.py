"""``openat2(2)`` through ctypes: open a path beneath a folder in one kernel call.

Why: with ``RESOLVE_BENEATH`` the kernel itself refuses any step (``..``, an absolute or relative
symlink, a magic link of ``/proc``) that would leave the starting folder, atomically, even while
another host process renames things; ``RESOLVE_NO_SYMLINKS`` refuses every symlink on the way.
Python's ``os`` module has no binding for it, so this module calls the raw syscall. It is the
only ctypes syscall in the project; tests/runtime/test_openat2.py fails loudly if it stops
working on a kernel that has it.

Linux 5.6 and later only. Where the kernel (or a seccomp filter) lacks it, ``available()`` is
False and runtime/host_layer.py walks paths component by component instead.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys
from collections.abc import Callable
from functools import cache

log = logging.getLogger(__name__)

#: The syscall number is 437 on every Linux architecture: it was added after the tables were
#: unified (5.6), so x86_64, arm64, riscv64, … share it.
SYS_OPENAT2 = 437

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08

#: How often a lookup the kernel answered with EAGAIN (a rename raced a ``..`` step) is retried.
_AGAIN_RETRIES = 8


class _OpenHow(ctypes.Structure):
    """``struct open_how`` of <linux/openat2.h>."""

    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_HOW_SIZE = ctypes.sizeof(_OpenHow)


@cache
def _syscall() -> Callable[..., int] | None:
    """libc's ``syscall()`` typed for openat2's arguments (ints and pointers travel in the same
    registers whether or not the callee is variadic, on every Linux ABI), so each call skips
    ctypes' argument guessing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prototype = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long, ctypes.c_int,
                                     ctypes.c_char_p, ctypes.POINTER(_OpenHow), ctypes.c_size_t,
                                     use_errno=True)
        return prototype(("syscall", libc))
    except (OSError, AttributeError) as exc:
        log.info("no syscall() in this process's C library (%s): paths are walked by hand", exc)
        return None


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """Open ``path`` relative to ``dir_fd`` under the ``RESOLVE_*`` rules; returns a new fd.

    Raises ``OSError`` with the kernel's errno (EXDEV when a step would leave ``dir_fd`` under
    ``RESOLVE_BENEATH``, ELOOP for a symlink under ``RESOLVE_NO_SYMLINKS``, ENOSYS when the
    kernel has no openat2). ``ValueError`` for a NUL byte, as ``os.open`` does.
    """
    raw = os.fsencode(path)
    if b"\x00" in raw:
        raise ValueError("embedded null byte")
    func = _syscall()
    if func is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), path)
    how = _OpenHow(flags, mode, resolve)
    for _ in range(_AGAIN_RETRIES):
        fd = func(SYS_OPENAT2, dir_fd, raw, how, _HOW_SIZE)
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        if code not in (errno.EAGAIN, errno.EINTR):
            raise OSError(code, os.strerror(code), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


@cache
def available() -> bool:
    """Whether openat2 works here: probed once per process by opening ``.`` beneath ``/``."""
    if _syscall() is None:
        return False
    root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = openat2(root, ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
                     RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
    except OSError as exc:
        # ENOSYS: kernel before 5.6; EPERM: a seccomp filter (older container runtimes);
        # E2BIG/EINVAL: a kernel that does not know this struct or these flags.
        log.info("openat2 is not usable here (%s): paths are walked by hand", exc)
        return False
    finally:
        os.close(root)
    os.close(fd)
    return True
