"""The host's files API (``Sandbox.files``) against a real sandbox."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.errors import SandboxFileNotFoundError, SandboxPathError
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text


@pytest.fixture
def folder(shared_sandbox: Sandbox) -> str:
    """A fresh folder in the shared sandbox's /workspace, removed afterwards."""
    name = f"/workspace/files-api-{uuid.uuid4().hex[:8]}"
    shared_sandbox.files.mkdir(name)
    yield name
    shared_sandbox.files.delete(name, recursive=True)


def test_write_read_stat_list(shared_sandbox: Sandbox, folder: str) -> None:
    files = shared_sandbox.files
    files.write_bytes(f"{folder}/a.bin", b"\x00\x01binary")
    files.write_text(f"{folder}/b.txt", "héllo")
    assert files.read_bytes(f"{folder}/a.bin") == b"\x00\x01binary"
    assert files.read_text(f"{folder}/b.txt") == "héllo"
    info = files.stat(f"{folder}/b.txt")
    assert (info.path, info.name, info.is_dir, info.size) == (f"{folder}/b.txt", "b.txt",
                                                              False, len("héllo".encode()))
    assert files.stat(folder).is_dir
    assert [(i.name, i.is_dir) for i in files.list(folder)] == [("a.bin", False), ("b.txt", False)]
    files.write_bytes(f"{folder}/a.bin", b"shorter")
    assert files.read_bytes(f"{folder}/a.bin") == b"shorter"
    assert files.exists(f"{folder}/a.bin")
    assert not files.exists(f"{folder}/nope")


def test_relative_paths_start_in_workspace(shared_sandbox: Sandbox, folder: str) -> None:
    files = shared_sandbox.files
    relative = folder.removeprefix("/workspace/")
    files.write_bytes(f"{relative}/rel.txt", b"r")
    assert files.read_bytes(f"{folder}/rel.txt") == b"r"
    assert relative in [i.name for i in files.list()]


def test_big_file_round_trip(shared_sandbox: Sandbox, folder: str) -> None:
    data = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB, more than one read chunk
    shared_sandbox.files.write_bytes(f"{folder}/big.bin", data)
    assert shared_sandbox.files.read_bytes(f"{folder}/big.bin") == data
    assert shared_sandbox.files.stat(f"{folder}/big.bin").size == len(data)


def test_mkdir_delete_move(shared_sandbox: Sandbox, folder: str) -> None:
    files = shared_sandbox.files
    files.mkdir(f"{folder}/x/y/z", parents=True)
    files.mkdir(f"{folder}/x/y/z", parents=True)  # exists already: fine with parents
    with pytest.raises(SandboxPathError, match="already exists"):
        files.mkdir(f"{folder}/x")
    with pytest.raises(SandboxFileNotFoundError, match="no such file or folder"):
        files.mkdir(f"{folder}/p/q")
    files.write_bytes(f"{folder}/x/y/z/f.txt", b"f")
    files.write_bytes(f"{folder}/x/g.txt", b"g")
    with pytest.raises(SandboxPathError, match="not a folder"):
        files.mkdir(f"{folder}/x/g.txt/h", parents=True)
    with pytest.raises(SandboxPathError, match="folder is not empty"):
        files.delete(f"{folder}/x")
    files.move(f"{folder}/x", f"{folder}/moved")
    assert not files.exists(f"{folder}/x")
    assert files.read_bytes(f"{folder}/moved/y/z/f.txt") == b"f"
    files.move(f"{folder}/moved/g.txt", f"{folder}/g2.txt")
    assert files.read_bytes(f"{folder}/g2.txt") == b"g"
    with pytest.raises(SandboxPathError, match="cannot move between mounts"):
        files.move(f"{folder}/g2.txt", "/tmp/g2.txt")
    files.delete(f"{folder}/g2.txt")
    files.delete(f"{folder}/moved", recursive=True)
    assert files.list(folder) == []
    with pytest.raises(SandboxFileNotFoundError, match="no such file or folder"):
        files.delete(f"{folder}/moved")


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "/workspace/../etc/shadow",
                                  "/root/.ssh/id_rsa"])
def test_paths_outside_the_sandbox_are_not_found(shared_sandbox: Sandbox, path: str) -> None:
    with pytest.raises(SandboxFileNotFoundError) as info:
        shared_sandbox.files.read_bytes(path)
    assert path in str(info.value) and "sandbox" in str(info.value)
    assert not shared_sandbox.files.exists(path)


@pytest.mark.parametrize(("path", "reason"), [
    ("/workspace/a\x00b", "NUL byte"),
    ("/workspace/" + "n" * 300, "too long"),
    ("/workspace/\udcff\ud800", "not valid Unicode"),
])
def test_malformed_paths(shared_sandbox: Sandbox, path: str, reason: str) -> None:
    with pytest.raises(SandboxPathError, match=reason) as info:
        shared_sandbox.files.write_bytes(path, b"x")
    assert isinstance(info.value, ValueError)
    with pytest.raises(SandboxPathError, match=reason):
        shared_sandbox.files.read_bytes(path)


def test_non_string_path(shared_sandbox: Sandbox) -> None:
    with pytest.raises(SandboxPathError, match="must be a string"):
        shared_sandbox.files.read_bytes(b"/workspace/x")  # type: ignore[arg-type]


READ_ONLY = (SandboxPathError, "read-only location")
NOT_FOUND = (SandboxFileNotFoundError, "no such file or folder")


@pytest.mark.parametrize(("path", "on_write", "on_delete"), [
    ("/etc/passwd2", NOT_FOUND, NOT_FOUND),  # outside every mount: it does not exist
    ("/usr/local/lib/python315.zip", READ_ONLY, READ_ONLY),
    ("/usr/local/lib/jupyter-sandbox/guest/evil.py", READ_ONLY, NOT_FOUND),
    ("/", READ_ONLY, READ_ONLY),
    ("/usr", READ_ONLY, READ_ONLY),
])
def test_read_only_places_refuse_writes(shared_sandbox: Sandbox, path: str,
                                        on_write: tuple[type[Exception], str],
                                        on_delete: tuple[type[Exception], str]) -> None:
    error, reason = on_write
    with pytest.raises(error, match=reason):
        shared_sandbox.files.write_bytes(path, b"x")
    error, reason = on_delete
    with pytest.raises(error, match=reason):
        shared_sandbox.files.delete(path, recursive=True)
    assert shared_sandbox.files.exists(path) == (on_delete is READ_ONLY)


def test_root_lists_only_the_mounts(shared_sandbox: Sandbox) -> None:
    assert [i.name for i in shared_sandbox.files.list("/")] == ["tmp", "usr", "workspace"]
    with pytest.raises(SandboxPathError, match="is a folder"):
        shared_sandbox.files.read_bytes("/workspace")
    with pytest.raises(SandboxPathError, match="not a folder"):
        shared_sandbox.files.list("/usr/local/lib/python315.zip")


def test_guest_and_api_see_the_same_files(shared_sandbox: Sandbox, folder: str, run) -> None:
    shared_sandbox.files.write_bytes(f"{folder}/from_host.txt", "from the host ✓".encode())
    reply, messages = run(
        f"from pathlib import Path\n"
        f"print(Path({folder!r}, 'from_host.txt').read_text(encoding='utf-8'))\n"
        f"Path({folder!r}, 'from_guest.txt').write_text('from the guest ✓', encoding='utf-8')\n"
        f"Path({folder!r}, 'sub').mkdir()\n"
    )
    assert reply.status == "ok", reply.traceback
    assert stream_text(messages) == "from the host ✓\n"
    assert shared_sandbox.files.read_text(f"{folder}/from_guest.txt") == "from the guest ✓"
    assert shared_sandbox.files.stat(f"{folder}/sub").is_dir
    shared_sandbox.files.delete(f"{folder}/from_guest.txt")
    reply, messages = run(f"import os; print(sorted(os.listdir({folder!r})))")
    assert stream_text(messages) == "['from_host.txt', 'sub']\n"


def test_quota_refusals_leave_everything_as_it_was(tmp_path: Path) -> None:
    config = SandboxConfig(limits=Limits(workspace_bytes=256 * 1024, workspace_files=50),
                           state_dir=tmp_path / "state")
    with Sandbox(config) as sandbox:
        files = sandbox.files
        # The guest's own start-up files (IPython's history in /tmp) share the quota.
        room = 256 * 1024 - sandbox.usage().workspace_bytes
        half = room // 2 + 1
        files.write_bytes("keep.bin", b"k" * half)
        used = sandbox.usage().workspace_bytes
        with pytest.raises(SandboxPathError, match="quota") as info:
            files.write_bytes("big.bin", b"b" * half)
        assert "big.bin" in str(info.value)
        assert not files.exists("big.bin")
        assert not (tmp_path / "state" / "workspace" / "big.bin").exists()
        with pytest.raises(SandboxPathError, match="quota"):
            files.write_bytes("keep.bin", b"k" * (room + 1))
        assert files.read_bytes("keep.bin") == b"k" * half
        assert sandbox.usage().workspace_bytes == used
        files.delete("keep.bin")
        files.write_bytes("big.bin", b"b" * half)
        assert files.read_bytes("big.bin") == b"b" * half


def test_file_count_quota(tmp_path: Path) -> None:
    with Sandbox(SandboxConfig(state_dir=tmp_path / "state")) as probe:
        at_start = probe.usage().workspace_files
    config = SandboxConfig(limits=Limits(workspace_files=at_start + 2),
                           state_dir=tmp_path / "state2")
    with Sandbox(config) as sandbox:
        sandbox.files.mkdir("d")
        sandbox.files.write_bytes("d/one", b"1")
        with pytest.raises(SandboxPathError, match="quota"):
            sandbox.files.write_bytes("d/two", b"2")
        with pytest.raises(SandboxPathError, match="quota"):
            sandbox.files.mkdir("e/f", parents=True)
        assert [i.name for i in sandbox.files.list("d")] == ["one"]
