"""Unit tests of the virtual filesystem (no wasm): paths, layers, whiteouts, quota, escapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_sandbox.runtime import openat2
from jupyter_sandbox.runtime.host_layer import HostLayer
from jupyter_sandbox.runtime.vfs import (
    FILETYPE_DIRECTORY,
    FILETYPE_REGULAR,
    MAX_NAME,
    MAX_PATH,
    FileMount,
    LayeredMount,
    Quota,
    VirtualFS,
    inode,
    normalize,
)
from jupyter_sandbox.runtime.wasi_errno import Errno, WasiError


@pytest.fixture(autouse=True, params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs twice: with the kernel's openat2(RESOLVE_BENEATH), and with the
    component-by-component walk used where the kernel lacks it."""
    if request.param == "openat2":
        if not openat2.available():
            pytest.skip("openat2 is not usable on this machine (tests/runtime/test_openat2.py)")
    else:
        monkeypatch.setattr(openat2, "available", lambda: False)
    return request.param


def errno_of(call, *args, **kwargs) -> Errno:
    with pytest.raises(WasiError) as info:
        call(*args, **kwargs)
    return info.value.errno


def read(vfs: VirtualFS, path: str) -> bytes:
    fd, _ = vfs.open_file(path, write=False, create=False, exclusive=False, truncate=False)
    try:
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)


def write(vfs: VirtualFS, path: str, data: bytes, *, truncate: bool = True) -> None:
    fd, mount = vfs.open_file(path, write=True, create=True, exclusive=False, truncate=truncate)
    try:
        if mount is not None and mount.quota is not None:
            mount.quota.charge(len(data), 0)
        os.write(fd, data)
    finally:
        os.close(fd)


def host_tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder``: file contents, None for folders."""
    tree: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        tree[str(path.relative_to(folder))] = None if path.is_dir() else path.read_bytes()
    return tree


@pytest.fixture
def lower(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "table.csv").write_bytes(b"a,b\n1,2\n")
    (folder / "notes.txt").write_bytes(b"host notes")
    return folder


def make_vfs(tmp_path: Path, lower: Path | None = None, *, protect: bool = False,
             max_bytes: int = 1 << 20, max_files: int = 100) -> tuple[VirtualFS, Quota, Path]:
    upper = tmp_path / "upper"
    upper.mkdir(exist_ok=True)
    quota = Quota(max_bytes, max_files)
    stdlib = tmp_path / "stdlib.zip"
    stdlib.write_bytes(b"PK\x05\x06" + bytes(18))
    readonly = tmp_path / "packages"
    (readonly / "pkg").mkdir(parents=True, exist_ok=True)
    (readonly / "pkg" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "tmp-upper").mkdir(exist_ok=True)
    vfs = VirtualFS([
        FileMount("/usr/local/lib/python315.zip", stdlib),
        LayeredMount("/usr/local/lib/site-packages", readonly, None),
        LayeredMount("/workspace", lower, upper, quota, protect_lower=protect),
        LayeredMount("/tmp", None, tmp_path / "tmp-upper", quota),
    ])
    return vfs, quota, upper


# -- normalize ------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "base", "expected"), [
    ("../../../etc/passwd", "/workspace", "/etc/passwd"),
    ("/../../..", "/", "/"),
    ("..", "/", "/"),
    ("a/./b/../c", "/workspace", "/workspace/a/c"),
    ("//workspace///x//", "/tmp", "/workspace/x"),
    ("", "/workspace", "/workspace"),
    ("/workspace/../../../../workspace/f", "/", "/workspace/f"),
])
def test_normalize_is_lexical_and_clamps_at_root(path: str, base: str, expected: str) -> None:
    assert normalize(path, base) == expected


def test_normalize_rejects_nul_bytes() -> None:
    assert errno_of(normalize, "/workspace/a\x00b") == Errno.ILSEQ


def test_normalize_rejects_overlong_names_and_paths() -> None:
    assert normalize("x" * MAX_NAME, "/") == "/" + "x" * MAX_NAME
    assert errno_of(normalize, "x" * (MAX_NAME + 1)) == Errno.NAMETOOLONG
    # Multi-byte characters count in bytes, as on disk.
    assert errno_of(normalize, "é" * (MAX_NAME // 2 + 1)) == Errno.NAMETOOLONG
    assert errno_of(normalize, "/".join(["abcdefgh"] * (MAX_PATH // 9 + 1))) == Errno.NAMETOOLONG


def test_normalize_rejects_lone_surrogates() -> None:
    assert errno_of(normalize, "/workspace/\ud800") == Errno.ILSEQ


# -- the mount table ----------------------------------------------------------------------

def test_root_lists_only_mount_points(tmp_path: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path)
    assert vfs.listdir("/") == ["tmp", "usr", "workspace"]
    assert vfs.listdir("/usr/local/lib") == ["python315.zip", "site-packages"]
    assert vfs.is_dir("/usr")
    assert errno_of(vfs.stat, "/etc/passwd") == Errno.NOENT
    assert errno_of(vfs.stat, "/usr/local/lib/python315.zip/os.py") == Errno.NOTDIR


def test_nothing_can_be_created_above_the_mounts(tmp_path: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path)
    for path in ("/etc", "/usr/evil", "/usr/local/lib/new"):
        assert errno_of(vfs.mkdir, path) == Errno.ROFS
        assert errno_of(vfs.open_file, path, write=True, create=True, exclusive=False,
                        truncate=True) == Errno.ROFS
    assert errno_of(vfs.mkdir, "/workspace") == Errno.ROFS
    assert errno_of(vfs.rmdir, "/workspace") == Errno.ROFS
    assert errno_of(vfs.rmdir, "/usr") == Errno.ROFS
    # A new name inside a folder that does not exist is still just missing.
    assert errno_of(vfs.open_file, "/etc/passwd", write=True, create=True, exclusive=False,
                    truncate=True) == Errno.NOENT
    assert vfs.listdir("/") == ["tmp", "usr", "workspace"]


def test_read_only_mounts_refuse_writes(tmp_path: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path)
    before = host_tree(tmp_path / "packages")
    zip_before = (tmp_path / "stdlib.zip").read_bytes()
    assert errno_of(vfs.open_file, "/usr/local/lib/python315.zip", write=True, create=False,
                    exclusive=False, truncate=False) == Errno.ROFS
    assert errno_of(vfs.unlink, "/usr/local/lib/python315.zip") == Errno.ROFS
    for path in ("/usr/local/lib/site-packages/pkg/__init__.py",
                 "/usr/local/lib/site-packages/pkg/new.py"):
        assert errno_of(vfs.open_file, path, write=True, create=True, exclusive=False,
                        truncate=True) == Errno.ROFS
    assert errno_of(vfs.unlink, "/usr/local/lib/site-packages/pkg/__init__.py") == Errno.ROFS
    assert errno_of(vfs.mkdir, "/usr/local/lib/site-packages/pkg/sub") == Errno.ROFS
    assert errno_of(vfs.rename, "/usr/local/lib/site-packages/pkg/__init__.py",
                    "/usr/local/lib/site-packages/pkg/moved.py") == Errno.ROFS
    assert errno_of(vfs.set_times, "/usr/local/lib/site-packages/pkg/__init__.py", 1, 1) \
        == Errno.ROFS
    assert read(vfs, "/usr/local/lib/site-packages/pkg/__init__.py") == b"x = 1\n"
    assert host_tree(tmp_path / "packages") == before
    assert (tmp_path / "stdlib.zip").read_bytes() == zip_before


def test_rename_across_mounts_is_exdev(tmp_path: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path)
    write(vfs, "/workspace/a.txt", b"a")
    assert errno_of(vfs.rename, "/workspace/a.txt", "/tmp/a.txt") == Errno.XDEV
    assert read(vfs, "/workspace/a.txt") == b"a"
    assert errno_of(vfs.stat, "/tmp/a.txt") == Errno.NOENT


def test_rename_onto_itself_keeps_the_file(tmp_path: Path) -> None:
    vfs, quota, _ = make_vfs(tmp_path)
    write(vfs, "/workspace/same.txt", b"keep me")
    used = (quota.used_bytes, quota.used_files)
    vfs.rename("/workspace/same.txt", "/workspace/same.txt")
    assert read(vfs, "/workspace/same.txt") == b"keep me"
    assert (quota.used_bytes, quota.used_files) == used


def test_rename_folder_into_itself_is_refused(tmp_path: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path)
    vfs.mkdir("/workspace/d")
    assert errno_of(vfs.rename, "/workspace/d", "/workspace/d/e") == Errno.INVAL


# -- escapes through the host folder --------------------------------------------------------

def test_symlinks_in_the_host_folder_cannot_lead_out(tmp_path: Path, lower: Path) -> None:
    os.symlink("/etc", lower / "etc-abs")
    os.symlink("/etc/passwd", lower / "passwd-abs")
    os.symlink("../../../../../../../../etc/passwd", lower / "passwd-rel")
    os.symlink("../../../../../../../../etc", lower / "data" / "etc-rel")
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    os.symlink("../secret.txt", lower / "secret-rel")
    vfs, _, _ = make_vfs(tmp_path, lower)
    for path in ("/workspace/etc-abs/passwd", "/workspace/passwd-abs", "/workspace/passwd-rel",
                 "/workspace/data/etc-rel/passwd", "/workspace/secret-rel"):
        assert errno_of(read, vfs, path) == Errno.ACCES, path
        assert errno_of(vfs.stat, path) == Errno.ACCES, path
    assert errno_of(vfs.listdir, "/workspace/etc-abs") == Errno.ACCES
    # Writing through the link is refused too, and nothing changes on the host.
    assert errno_of(vfs.open_file, "/workspace/secret-rel", write=True, create=True,
                    exclusive=False, truncate=True) == Errno.ACCES
    assert errno_of(vfs.open_file, "/workspace/etc-abs/evil", write=True, create=True,
                    exclusive=False, truncate=True) == Errno.ACCES
    assert secret.read_text() == "host secret"


def test_symlinks_inside_the_host_folder_are_followed(tmp_path: Path, lower: Path) -> None:
    os.symlink("data/table.csv", lower / "table-link.csv")
    os.symlink("data", lower / "data-link")
    vfs, _, upper = make_vfs(tmp_path, lower)
    assert read(vfs, "/workspace/table-link.csv") == b"a,b\n1,2\n"
    assert vfs.listdir("/workspace/data-link") == ["table.csv"]
    # Copy-up copies the content, never the link itself.
    write(vfs, "/workspace/table-link.csv", b"x", truncate=False)
    assert not (upper / "table-link.csv").is_symlink()
    assert (lower / "data" / "table.csv").read_bytes() == b"a,b\n1,2\n"


def test_upper_layer_symlinks_are_refused(tmp_path: Path) -> None:
    vfs, _, upper = make_vfs(tmp_path)
    os.symlink("/etc/passwd", upper / "planted")
    assert errno_of(read, vfs, "/workspace/planted") == Errno.ACCES


def test_each_layer_uses_the_resolver_under_test(tmp_path: Path, lower: Path,
                                                 resolver: str) -> None:
    vfs, _, _ = make_vfs(tmp_path, lower)
    layered = [m for m in vfs.mounts if isinstance(m, LayeredMount)]
    layers = [layer for m in layered for layer in (m.lower_layer, m.upper_layer) if layer]
    assert len(layers) == 4
    assert {layer.uses_openat2 for layer in layers} == {resolver == "openat2"}


# -- planted links in the writable layers ---------------------------------------------------

def snapshot_of(folder: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry under ``folder`` with its content (None for folders) and mtime."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes(),
                                         p.lstat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host folder beside the sandbox's, with a marker the guest must never see or change."""
    folder = tmp_path / "outside"
    (folder / "inner").mkdir(parents=True)
    (folder / "secret.txt").write_bytes(b"host secret")
    (folder / "inner" / "deep.txt").write_bytes(b"deep secret")
    os.utime(folder / "secret.txt", ns=(1_000_000_000, 1_000_000_000))
    return folder


def plant(upper: Path, outside: Path) -> None:
    """Links a crafted snapshot, an admin's mistake or a racing host process could leave."""
    os.symlink(outside / "secret.txt", upper / "abs-file")
    os.symlink(outside, upper / "abs-dir")
    os.symlink("../outside/secret.txt", upper / "rel-file")
    os.symlink("../outside", upper / "rel-dir")
    (upper / "real").mkdir()
    (upper / "real" / "own.txt").write_bytes(b"own")
    os.symlink("real/own.txt", upper / "inner-file")  # even a link that stays inside
    os.symlink("real", upper / "inner-dir")


def test_planted_links_in_upper_are_never_followed(tmp_path: Path, outside: Path) -> None:
    vfs, quota, upper = make_vfs(tmp_path)
    plant(upper, outside)
    plant(tmp_path / "tmp-upper", outside)
    before = snapshot_of(outside)
    for root in ("/workspace", "/tmp"):
        files = [f"{root}/{name}" for name in ("abs-file", "rel-file", "inner-file")]
        dirs = [f"{root}/{name}" for name in ("abs-dir", "rel-dir", "inner-dir")]
        through = [f"{d}/{leaf}" for d in dirs for leaf in ("secret.txt", "own.txt")]
        for path in files + dirs + through:
            assert errno_of(vfs.stat, path) == Errno.ACCES, path
            assert errno_of(read, vfs, path) == Errno.ACCES, path
            for truncate in (True, False):
                assert errno_of(vfs.open_file, path, write=True, create=True, exclusive=False,
                                truncate=truncate) == Errno.ACCES, path
            assert errno_of(vfs.write_file, path, b"stolen") == Errno.ACCES, path
            assert errno_of(vfs.set_times, path, 1, 2) == Errno.ACCES, path
            assert errno_of(vfs.rename, path, f"{root}/moved") == Errno.ACCES, path
            assert errno_of(vfs.rmdir, path) == Errno.ACCES, path
        for d in dirs:
            assert errno_of(vfs.listdir, d) == Errno.ACCES, d
            assert errno_of(vfs.mkdir, f"{d}/new") == Errno.ACCES, d
            assert errno_of(vfs.write_file, f"{d}/new.txt", b"x") == Errno.ACCES, d
            assert errno_of(vfs.open_file, f"{d}/new.txt", write=True, create=True,
                            exclusive=True, truncate=True) == Errno.ACCES, d
            assert errno_of(vfs.unlink, f"{d}/secret.txt") == Errno.ACCES, d
        for path in through:
            assert errno_of(vfs.unlink, path) == Errno.ACCES, path
        # Nor can a file be moved onto a link's name, or out of the layer through one.
        vfs.write_file(f"{root}/mine.txt", b"mine")
        assert errno_of(vfs.rename, f"{root}/mine.txt", f"{root}/abs-file") == Errno.ACCES
        assert errno_of(vfs.rename, f"{root}/mine.txt", f"{root}/abs-dir/x") == Errno.ACCES
        # The folder itself still lists (the links are there), and the rest of it works.
        assert {"abs-file", "abs-dir", "mine.txt", "real"} <= set(vfs.listdir(root))
        assert read(vfs, f"{root}/real/own.txt") == b"own"
    assert snapshot_of(outside) == before
    assert (upper / "real" / "own.txt").read_bytes() == b"own"


def test_unlink_removes_a_planted_link_not_its_target(tmp_path: Path, outside: Path) -> None:
    vfs, quota, upper = make_vfs(tmp_path)
    plant(upper, outside)
    quota.count_existing(upper)
    files_before = quota.used_files
    before = snapshot_of(outside)
    vfs.unlink("/workspace/abs-file")
    vfs.unlink("/workspace/abs-dir")  # a link to a folder is a link: unlink, not rmdir
    assert not os.path.lexists(upper / "abs-file")
    assert not os.path.lexists(upper / "abs-dir")
    assert quota.used_files == files_before - 2
    assert snapshot_of(outside) == before


def test_a_link_swapped_in_after_the_lookup_changes_nothing_outside(
        tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A host process races the guest: just after the folder "d" was resolved, it is moved
    # away and a symlink to the outside folder takes its name. What was resolved is what is
    # used, so the write lands in the moved folder, inside the layer, never outside.
    vfs, _, upper = make_vfs(tmp_path)
    vfs.mkdir("/workspace/d")
    vfs.write_file("/workspace/d/secret.txt", b"old")
    before = snapshot_of(outside)
    real_dir = HostLayer._dir
    swapped: list[str] = []

    def racing_dir(self: HostLayer, rel: str, *, create: bool = False) -> int:
        fd = real_dir(self, rel, create=create)
        if rel == "d" and not swapped:
            os.rename(upper / "d", upper / "d-moved")
            os.symlink(outside, upper / "d")
            swapped.append(rel)
        return fd

    monkeypatch.setattr(HostLayer, "_dir", racing_dir)
    vfs.write_file("/workspace/d/secret.txt", b"new")
    assert swapped == ["d"]
    assert (upper / "d-moved" / "secret.txt").read_bytes() == b"new"
    assert snapshot_of(outside) == before
    # From now on the name is a planted link: refused.
    assert errno_of(read, vfs, "/workspace/d/secret.txt") == Errno.ACCES


def test_special_files_are_refused_without_blocking(tmp_path: Path, lower: Path) -> None:
    vfs, _, upper = make_vfs(tmp_path, lower)
    os.mkfifo(upper / "fifo")
    os.mkfifo(lower / "lower-fifo")
    for path in ("/workspace/fifo", "/workspace/lower-fifo"):
        assert errno_of(read, vfs, path) == Errno.ACCES, path  # a FIFO would block here
        assert errno_of(vfs.open_file, path, write=True, create=False, exclusive=False,
                        truncate=False) == Errno.ACCES, path
    assert errno_of(vfs.write_file, "/workspace/fifo", b"x") in (Errno.ACCES, Errno.IO)
    assert vfs.stat("/workspace/fifo").filetype not in (FILETYPE_REGULAR, FILETYPE_DIRECTORY)


def test_a_replaced_upper_folder_is_used_at_once(tmp_path: Path) -> None:
    # A restore swaps the whole upper folder: the layer reopens its root for each operation.
    vfs, _, upper = make_vfs(tmp_path)
    vfs.write_file("/workspace/old.txt", b"old")
    os.rename(upper, tmp_path / "upper-old")
    upper.mkdir()
    (upper / "new.txt").write_bytes(b"new")
    assert vfs.listdir("/workspace") == ["new.txt"]
    vfs.write_file("/workspace/more.txt", b"more")
    assert (upper / "more.txt").read_bytes() == b"more"
    assert not (tmp_path / "upper-old" / "more.txt").exists()


def test_a_symlinked_upper_root_is_refused(tmp_path: Path, outside: Path) -> None:
    # The root's own path is resolved once, when the mount is made; if its last name is later
    # replaced by a link, nothing is followed through it.
    vfs, _, upper = make_vfs(tmp_path)
    os.rename(upper, tmp_path / "upper-old")
    os.symlink(outside, upper)
    before = snapshot_of(outside)
    assert errno_of(vfs.write_file, "/workspace/secret.txt", b"x") in (Errno.LOOP, Errno.NOTDIR)
    assert errno_of(vfs.listdir, "/workspace") in (Errno.LOOP, Errno.NOTDIR)
    assert snapshot_of(outside) == before


# -- links in the read-only host folder, resolved against its root ---------------------------

def test_lower_links_are_judged_against_the_root(tmp_path: Path, lower: Path) -> None:
    sibling = tmp_path / "notebooks-evil"  # shares the root's name as a prefix
    sibling.mkdir()
    (sibling / "secret.txt").write_bytes(b"sibling secret")
    os.symlink(lower / "data", lower / "abs-inside")  # absolute, but inside: followed
    os.symlink("../notes.txt", lower / "data" / "up")
    os.symlink("data/up", lower / "chain")
    os.symlink("abs-inside/table.csv", lower / "via-abs")
    os.symlink("../notebooks/notes.txt", lower / "out-and-back")  # leaves the root on the way
    os.symlink(sibling / "secret.txt", lower / "sibling")
    os.symlink("/proc/self/root/etc/passwd", lower / "magic")
    os.symlink("loop-b", lower / "loop-a")
    os.symlink("loop-a", lower / "loop-b")
    os.symlink("missing.txt", lower / "dangling")
    vfs, _, _ = make_vfs(tmp_path, lower)
    assert read(vfs, "/workspace/abs-inside/table.csv") == b"a,b\n1,2\n"
    assert vfs.listdir("/workspace/abs-inside") == ["table.csv", "up"]
    assert read(vfs, "/workspace/data/up") == b"host notes"
    assert read(vfs, "/workspace/chain") == b"host notes"
    assert read(vfs, "/workspace/via-abs") == b"a,b\n1,2\n"
    for path in ("/workspace/out-and-back", "/workspace/sibling", "/workspace/magic"):
        assert errno_of(read, vfs, path) == Errno.ACCES, path
        assert errno_of(vfs.stat, path) == Errno.ACCES, path
    assert errno_of(vfs.stat, "/workspace/loop-a") == Errno.LOOP
    assert errno_of(vfs.stat, "/workspace/dangling") == Errno.NOENT


# -- overlay --------------------------------------------------------------------------------

def test_overlay_write_copies_up_and_leaves_the_host_file(tmp_path: Path, lower: Path) -> None:
    vfs, quota, upper = make_vfs(tmp_path, lower)
    before = host_tree(lower)
    write(vfs, "/workspace/data/table.csv", b"more\n", truncate=False)
    fd, _ = vfs.open_file("/workspace/notes.txt", write=True, create=False, exclusive=False,
                          truncate=True)
    os.write(fd, b"guest notes")
    os.close(fd)
    assert read(vfs, "/workspace/notes.txt") == b"guest notes"
    assert read(vfs, "/workspace/data/table.csv").startswith(b"more\n")
    assert (upper / "notes.txt").read_bytes() == b"guest notes"
    assert host_tree(lower) == before
    assert quota.used_files == 2


def test_overlay_delete_records_a_whiteout(tmp_path: Path, lower: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path, lower)
    before = host_tree(lower)
    vfs.unlink("/workspace/notes.txt")
    assert errno_of(vfs.stat, "/workspace/notes.txt") == Errno.NOENT
    assert "notes.txt" not in vfs.listdir("/workspace")
    vfs.unlink("/workspace/data/table.csv")
    vfs.rmdir("/workspace/data")
    assert vfs.listdir("/workspace") == []
    assert host_tree(lower) == before
    # A new folder of the same name is empty: the old lower files stay hidden.
    vfs.mkdir("/workspace/data")
    assert vfs.listdir("/workspace/data") == []
    assert errno_of(vfs.stat, "/workspace/data/table.csv") == Errno.NOENT
    write(vfs, "/workspace/notes.txt", b"new")
    assert read(vfs, "/workspace/notes.txt") == b"new"
    vfs.unlink("/workspace/notes.txt")
    assert errno_of(vfs.stat, "/workspace/notes.txt") == Errno.NOENT
    assert host_tree(lower) == before


def test_overlay_rename_of_a_host_file(tmp_path: Path, lower: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path, lower)
    before = host_tree(lower)
    vfs.rename("/workspace/notes.txt", "/workspace/renamed.txt")
    assert read(vfs, "/workspace/renamed.txt") == b"host notes"
    assert errno_of(vfs.stat, "/workspace/notes.txt") == Errno.NOENT
    # A folder of the host layer cannot move in one step: EXDEV lets shutil.move copy it.
    assert errno_of(vfs.rename, "/workspace/data", "/workspace/data2") == Errno.XDEV
    # Not even when part of it was already copied up (a merged folder).
    write(vfs, "/workspace/data/new.csv", b"n")
    assert errno_of(vfs.rename, "/workspace/data", "/workspace/data2") == Errno.XDEV
    assert sorted(vfs.listdir("/workspace/data")) == ["new.csv", "table.csv"]
    assert host_tree(lower) == before


def test_set_times_copies_up(tmp_path: Path, lower: Path) -> None:
    vfs, _, upper = make_vfs(tmp_path, lower)
    mtime = (lower / "notes.txt").stat().st_mtime_ns
    vfs.set_times("/workspace/notes.txt", 1_000_000_000, 2_000_000_000)
    assert vfs.stat("/workspace/notes.txt").mtime_ns == 2_000_000_000
    assert (upper / "notes.txt").read_bytes() == b"host notes"
    assert (lower / "notes.txt").stat().st_mtime_ns == mtime


# -- read-only host folder -------------------------------------------------------------------

def test_protected_lower_refuses_changes_but_allows_new_files(tmp_path: Path, lower: Path) -> None:
    vfs, _, upper = make_vfs(tmp_path, lower, protect=True)
    before = host_tree(lower)
    assert read(vfs, "/workspace/notes.txt") == b"host notes"
    for truncate in (True, False):
        assert errno_of(vfs.open_file, "/workspace/notes.txt", write=True, create=True,
                        exclusive=False, truncate=truncate) == Errno.ROFS
    assert errno_of(vfs.unlink, "/workspace/notes.txt") == Errno.ROFS
    assert errno_of(vfs.unlink, "/workspace/data/table.csv") == Errno.ROFS
    assert errno_of(vfs.rmdir, "/workspace/data") == Errno.NOTEMPTY
    assert errno_of(vfs.rename, "/workspace/notes.txt", "/workspace/x.txt") == Errno.ROFS
    assert errno_of(vfs.write_file, "/workspace/notes.txt", b"x") == Errno.ROFS
    assert errno_of(vfs.set_times, "/workspace/notes.txt", 1, 1) == Errno.ROFS
    # New files are fine, also inside host folders, and stay private.
    write(vfs, "/workspace/mine.txt", b"mine")
    write(vfs, "/workspace/data/extra.csv", b"extra")
    assert sorted(vfs.listdir("/workspace/data")) == ["extra.csv", "table.csv"]
    assert (upper / "data" / "extra.csv").read_bytes() == b"extra"
    # ... but cannot be renamed over a host file.
    assert errno_of(vfs.rename, "/workspace/mine.txt", "/workspace/notes.txt") == Errno.ROFS
    vfs.unlink("/workspace/mine.txt")
    assert host_tree(lower) == before


# -- quota ----------------------------------------------------------------------------------

def test_quota_on_bytes_refuses_before_writing(tmp_path: Path) -> None:
    vfs, quota, upper = make_vfs(tmp_path, max_bytes=1000)
    vfs.write_file("/workspace/a.bin", b"x" * 600)
    assert errno_of(vfs.write_file, "/workspace/b.bin", b"y" * 600) == Errno.DQUOT
    assert not (upper / "b.bin").exists()
    assert errno_of(vfs.write_file, "/tmp/c.bin", b"y" * 600) == Errno.DQUOT  # shared quota
    # Replacing a file charges only the difference; a refused replacement keeps the old one.
    vfs.write_file("/workspace/a.bin", b"z" * 900)
    assert errno_of(vfs.write_file, "/workspace/a.bin", b"z" * 1001) == Errno.DQUOT
    assert (upper / "a.bin").read_bytes() == b"z" * 900
    assert quota.used_bytes == 900
    vfs.unlink("/workspace/a.bin")
    assert quota.used_bytes == 0 and quota.used_files == 0
    assert list(upper.iterdir()) == []


def test_quota_counts_copy_up(tmp_path: Path, lower: Path) -> None:
    size = (lower / "notes.txt").stat().st_size
    vfs, quota, upper = make_vfs(tmp_path, lower, max_bytes=size - 1)
    assert errno_of(vfs.open_file, "/workspace/notes.txt", write=True, create=False,
                    exclusive=False, truncate=False) == Errno.DQUOT
    assert not (upper / "notes.txt").exists()
    assert (quota.used_bytes, quota.used_files) == (0, 0)
    # Truncating needs no room for the old content.
    fd, _ = vfs.open_file("/workspace/notes.txt", write=True, create=False, exclusive=False,
                          truncate=True)
    os.close(fd)
    assert (quota.used_bytes, quota.used_files) == (0, 1)


def test_quota_on_file_count(tmp_path: Path) -> None:
    vfs, quota, upper = make_vfs(tmp_path, max_files=3)
    vfs.mkdir("/workspace/d")
    write(vfs, "/workspace/d/1", b"")
    write(vfs, "/tmp/2", b"")
    assert errno_of(write, vfs, "/workspace/d/3", b"") == Errno.DQUOT
    assert errno_of(vfs.mkdir, "/workspace/e") == Errno.DQUOT
    assert errno_of(vfs.write_file, "/workspace/f", b"") == Errno.DQUOT
    assert sorted(p.name for p in upper.rglob("*")) == ["1", "d"]
    vfs.unlink("/tmp/2")
    write(vfs, "/workspace/d/3", b"")
    assert quota.used_files == 3


def test_quota_count_existing(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f").write_bytes(b"12345")
    quota = Quota(100, 100)
    quota.count_existing(folder)
    assert (quota.used_bytes, quota.used_files) == (5, 2)
    assert errno_of(quota.charge, 96) == Errno.DQUOT
    assert quota.used_bytes == 5


# -- everyday operations --------------------------------------------------------------------

def test_stat_and_inodes(tmp_path: Path, lower: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path, lower)
    st = vfs.stat("/workspace/data/table.csv")
    assert (st.filetype, st.size) == (FILETYPE_REGULAR, 8)
    assert st.ino == inode("/workspace/data/table.csv")
    assert vfs.stat("/workspace/data").filetype == FILETYPE_DIRECTORY
    assert vfs.stat("/workspace").ino != vfs.stat("/tmp").ino


def test_remove_checks_kinds(tmp_path: Path) -> None:
    vfs, _, _ = make_vfs(tmp_path)
    vfs.mkdir("/workspace/d")
    write(vfs, "/workspace/d/f", b"x")
    assert errno_of(vfs.unlink, "/workspace/d") == Errno.ISDIR
    assert errno_of(vfs.rmdir, "/workspace/d/f") == Errno.NOTDIR
    assert errno_of(vfs.rmdir, "/workspace/d") == Errno.NOTEMPTY
    assert errno_of(vfs.mkdir, "/workspace/d") == Errno.EXIST
    assert errno_of(vfs.open_file, "/workspace/d/f", write=False, create=True, exclusive=True,
                    truncate=False) == Errno.EXIST
    assert errno_of(vfs.open_file, "/workspace/missing/f", write=True, create=True,
                    exclusive=False, truncate=True) == Errno.NOENT
    assert errno_of(vfs.open_file, "/workspace/d/f/g", write=True, create=True,
                    exclusive=False, truncate=True) == Errno.NOTDIR
    assert errno_of(vfs.write_file, "/workspace/d", b"x") == Errno.ISDIR
