"""The ctypes ``openat2`` call (runtime/openat2.py) against the real kernel.

These fail loudly if the call stops working on a kernel that has it (a wrong syscall number or
struct layout would silently send every lookup down the slower walk, or worse, open paths
without the checks). Where the kernel or a seccomp filter lacks openat2, they are skipped and
tests/runtime/test_vfs.py still runs every case through the walk.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_sandbox.runtime import openat2

BENEATH = openat2.RESOLVE_BENEATH | openat2.RESOLVE_NO_MAGICLINKS
NO_LINKS = BENEATH | openat2.RESOLVE_NO_SYMLINKS
RDONLY = os.O_RDONLY | os.O_CLOEXEC


def _kernel_has_openat2() -> bool:
    """Ask the kernel directly, without our wrapper: ENOSYS/EPERM mean it is not offered."""
    if platform.system() != "Linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    how = (ctypes.c_uint64 * 3)(os.O_PATH | os.O_CLOEXEC, 0, 0)
    fd = libc.syscall(ctypes.c_long(openat2.SYS_OPENAT2), ctypes.c_int(-100),  # AT_FDCWD
                      ctypes.c_char_p(b"/"), ctypes.byref(how), ctypes.c_size_t(24))
    if fd >= 0:
        os.close(fd)
        return True
    return ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM)


pytestmark = pytest.mark.skipif(not _kernel_has_openat2(),
                                reason="this kernel (or its seccomp filter) has no openat2")


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[int]:
    """An fd of a folder holding a file, an in-tree link and links that lead out."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file.txt").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(b"outside")
    os.symlink("sub/file.txt", root / "inner")
    os.symlink("../secret.txt", root / "rel-out")
    os.symlink(tmp_path / "secret.txt", root / "abs-out")
    os.symlink("/proc/self/cwd", root / "magic")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def read_fd(fd: int) -> bytes:
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def test_available_here() -> None:
    # The kernel offers openat2, so our probe must say so: otherwise every lookup silently
    # falls back to the walk.
    assert openat2.available()


def test_opens_beneath_the_folder(tree: int) -> None:
    assert read_fd(openat2.openat2(tree, "sub/file.txt", RDONLY, BENEATH)) == b"inside"
    assert read_fd(openat2.openat2(tree, "sub/../sub/file.txt", RDONLY, BENEATH)) == b"inside"
    assert read_fd(openat2.openat2(tree, "inner", RDONLY, BENEATH)) == b"inside"


@pytest.mark.parametrize("path", ["../secret.txt", "rel-out", "abs-out", "/etc/passwd",
                                  "sub/../../secret.txt"])
def test_beneath_refuses_every_way_out(tree: int, path: str) -> None:
    with pytest.raises(OSError) as info:
        openat2.openat2(tree, path, RDONLY, BENEATH)
    assert info.value.errno == errno.EXDEV, path


def test_no_magic_links(tree: int) -> None:
    with pytest.raises(OSError) as info:
        openat2.openat2(tree, "magic", RDONLY, BENEATH)
    assert info.value.errno in (errno.EXDEV, errno.ELOOP)


def test_no_symlinks_refuses_even_inner_links(tree: int) -> None:
    with pytest.raises(OSError) as info:
        openat2.openat2(tree, "inner", RDONLY, NO_LINKS)
    assert info.value.errno == errno.ELOOP
    assert read_fd(openat2.openat2(tree, "sub/file.txt", RDONLY, NO_LINKS)) == b"inside"


def test_flags_and_mode_reach_the_kernel(tree: int, tmp_path: Path) -> None:
    fd = openat2.openat2(tree, "sub/new.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         NO_LINKS, 0o640)
    os.write(fd, b"made")
    os.close(fd)
    made = tmp_path / "root" / "sub" / "new.txt"
    assert made.read_bytes() == b"made"
    assert made.stat().st_mode & 0o777 == 0o640 & ~_umask()
    with pytest.raises(FileExistsError):
        openat2.openat2(tree, "sub/new.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, NO_LINKS)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_errors_name_the_path_and_nul_is_refused(tree: int) -> None:
    with pytest.raises(FileNotFoundError) as info:
        openat2.openat2(tree, "missing", RDONLY, BENEATH)
    assert info.value.filename == "missing"
    with pytest.raises(ValueError):
        openat2.openat2(tree, "sub\x00/file.txt", RDONLY, BENEATH)
