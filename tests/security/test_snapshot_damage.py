"""Issue 12, item 5: a bad snapshot never loses data and never hangs.

Every part of a snapshot is checked and staged before the sandbox's current state is touched:
declared sizes against the memory limit and the workspace quota before anything is
decompressed, decompression bounded, layers unpacked into a staging folder and swapped in only
once the memory restore worked. Any failure is a ``SnapshotError`` in the cell's reply with the
sandbox exactly as before. The files here are real snapshots, damaged one part at a time and
signed with the sandbox's own key, so the damage (not the signature) is what is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
import zstandard

from jupyter_sandbox.runtime import snapshot_signing
from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.errors import SnapshotTooLargeError
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.snapshot import SnapshotError
from tests.security import snapshot_files as craft
from tests.security.snapshot_kernel import sandbox_kernel, text

MiB, GiB = 1 << 20, 1 << 30
#: What a refused bomb may cost the host at most (the sandbox's quota is 32 MiB).
BUDGET = 96 * MiB


def bomb_frame(total: int, head: bytes = b"", content_size: bool = False) -> bytes:
    """A zstd frame of ``head`` then zeros, ``total`` bytes once expanded (tens of KiB)."""
    compressor = zstandard.ZstdCompressor(level=19, write_content_size=content_size)
    stream = compressor.compressobj(size=total if content_size else -1)
    parts = [stream.compress(head)]
    zeros = bytes(8 * MiB)
    left = total - len(head)
    while left > 0:
        parts.append(stream.compress(zeros[: min(left, len(zeros))]))
        left -= len(zeros)
    parts.append(stream.flush())
    return b"".join(parts)


def one_file_bomb(size: int = GiB) -> tuple[bytes, int]:
    """A layer stream with one file entry of ``size`` zero bytes, compressed; and its raw size."""
    head = (craft.stream(craft.entry(b"L", b"/workspace"), end=False)
            + craft.ENTRY.pack(ord("f"), 0o600, 4, size, 0) + b"bomb")
    return bomb_frame(len(head) + size, head), len(head) + size


def many_files_stream(count: int, size: int) -> bytes:
    """``count`` files of ``size`` bytes each: every one under the quota, all of them over it."""
    content = bytes(size)
    files = (craft.entry(b"f", f"f{i}".encode(), 0o600, content) for i in range(count))
    return craft.stream(craft.entry(b"L", b"/workspace"), *files)


def _tree_bytes(folder: Path) -> int:
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(folder) for f in fs)


def _value(sandbox: Sandbox, expression: str) -> str:
    messages: list[dict] = []
    reply = sandbox.execute(expression, messages.append)
    assert reply.status == "ok", reply.evalue
    return messages[-1]["content"]["data"]["text/plain"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A sandbox with a 256 MiB memory limit and a 32 MiB quota, holding files and a variable."""
    base = tmp_path_factory.mktemp("damage")
    config = SandboxConfig(state_dir=base / "state", snapshot_key_file=base / "key",
                           limits=Limits(memory_bytes=256 * MiB, workspace_bytes=32 * MiB))
    with Sandbox(config) as sandbox:
        assert sandbox.execute("import os; os.makedirs('/workspace/data', exist_ok=True)\n"
                               "open('/workspace/data/keep.txt', 'w').write('keep me')\n"
                               "kept = 'variable'").status == "ok"
        yield sandbox, base, snapshot_signing.load_key(base / "key")


def _bad_files(good: bytes, key: bytes) -> dict[str, bytes]:
    raw_frame, raw_size = one_file_bomb()
    parts = craft.split(good)
    garbage_pages = craft.split(good)
    # zstd's magic, then a frame header with its reserved bit set and garbage: zstd refuses it
    # every time (random header bytes sometimes parse, with a content size of their own).
    garbage_pages.page_frames[0] = (b"\x28\xb5\x2f\xfd\x08"
                                    + os.urandom(len(parts.page_frames[0])))
    garbage_pages.header["chunks"][0][0] = len(garbage_pages.page_frames[0])
    lying_pages = craft.split(good)
    raw = lying_pages.header["chunks"][0][1]
    lying_pages.page_frames[0] = bomb_frame(GiB, content_size=True)
    lying_pages.header["chunks"][0][0] = len(lying_pages.page_frames[0])
    lying_pages_unsized = craft.split(good)
    lying_pages_unsized.page_frames[0] = bomb_frame(GiB)
    lying_pages_unsized.header["chunks"][0][0] = len(lying_pages_unsized.page_frames[0])
    huge_memory = craft.split(good)
    huge_memory.header["memory_bytes"] = 2 * GiB
    assert raw > 0
    return {
        "layers-not-zstd": craft.with_layers(good, key, frame=bytes(4) + os.urandom(4092),
                                             declared={"raw_bytes": 4096}),
        "layers-not-our-format": craft.with_layers(good, key, b"PK\x03\x04" + os.urandom(900)),
        "layers-cut-short": craft.with_layers(
            good, key, frame=craft.compress(many_files_stream(3, 10))[:-9],
            declared={"raw_bytes": len(many_files_stream(3, 10))}),
        "layers-bomb-declared": craft.with_layers(good, key, frame=raw_frame, declared={
            "raw_bytes": raw_size, "file_bytes": GiB, "entries": 1}),
        "layers-bomb-lying": craft.with_layers(good, key, frame=raw_frame,
                                               declared={"raw_bytes": 4096}),
        "layers-bomb-one-big-entry": craft.with_layers(good, key, frame=raw_frame, declared={
            "raw_bytes": 30 * MiB, "file_bytes": MiB, "entries": 1}),
        "layers-many-files-over-quota": craft.with_layers(
            good, key, many_files_stream(48, MiB), declared={"file_bytes": MiB, "entries": 1}),
        "pages-not-zstd": craft.seal(garbage_pages, key),
        "pages-bomb-content-size": craft.seal(lying_pages, key),
        "pages-bomb-no-content-size": craft.seal(lying_pages_unsized, key),
        "memory-over-limit": craft.seal(huge_memory, key),
    }


#: damage -> the error it must be refused with and the reason (a regex on its message): each
#: part is refused by the check for that part, not by an earlier one (a sealing bug would
#: otherwise make every case pass without reaching the part under test).
BAD: dict[str, tuple[type[SnapshotError], str]] = {
    "layers-not-zstd": (SnapshotError, r"^the snapshot's files cannot be decompressed: "
                                       r"cannot get frame parameters: Unknown frame descriptor$"),
    "layers-not-our-format": (
        SnapshotError, r"^the snapshot's files are not in this version's layer format$"),
    "layers-cut-short": (SnapshotError, r"^the snapshot's files are truncated$"),
    "layers-bomb-declared": (
        SnapshotTooLargeError,
        r"^the snapshot holds 1024 MiB of files, more than this sandbox's quota of 32 MiB"),
    "layers-bomb-lying": (
        SnapshotError, r"^the snapshot's files are larger than this sandbox's quota of 32 MiB$"),
    "layers-bomb-one-big-entry": (
        SnapshotError, r"^the snapshot's files are larger than this sandbox's quota of 32 MiB$"),
    "layers-many-files-over-quota": (
        SnapshotError, r"^the snapshot's files are larger than this sandbox's quota of 32 MiB$"),
    "pages-not-zstd": (SnapshotError, r"^the snapshot payload cannot be decompressed: "
                                      r"cannot get frame parameters: Unsupported frame parameter$"),
    "pages-bomb-content-size": (SnapshotError, r"^the snapshot payload does not match its header$"),
    "pages-bomb-no-content-size": (
        SnapshotError, r"^the snapshot payload cannot be decompressed: .*did not decompress full"),
    "memory-over-limit": (
        SnapshotTooLargeError,
        r"^the snapshot holds 2048 MiB of memory, more than this sandbox's limit of 256 MiB"),
}


@pytest.fixture(scope="module")
def bad_files(small) -> tuple[bytes, dict[str, bytes]]:
    """A good snapshot of ``small`` and every damaged variant of it (made once: the bombs
    take a while to compress)."""
    sandbox, _, key = small
    good = sandbox.snapshot()
    return good, _bad_files(good, key)


def test_every_damaged_file_has_an_expected_reason(bad_files):
    assert sorted(bad_files[1]) == sorted(BAD)


@pytest.mark.parametrize(("damage", "error", "reason"),
                         [(name, *expected) for name, expected in BAD.items()])
def test_bad_parts_are_refused_with_files_and_variables_intact(small, bad_files, damage, error,
                                                               reason):
    sandbox, base, _ = small
    good, bad_variants = bad_files
    bad = bad_variants[damage]
    assert len(bad) < len(good) + 512 * 1024  # small files: what they would expand to is not
    process = psutil.Process()
    written, rss = process.io_counters().write_chars, process.memory_info().rss
    state_before = _tree_bytes(base / "state")
    with pytest.raises(error, match=reason):
        sandbox.restore(bad)
    assert process.io_counters().write_chars - written < BUDGET
    assert process.memory_info().rss - rss < BUDGET
    assert _tree_bytes(base / "state") == state_before
    assert not list((base / "state").glob(".restore-*"))
    assert sandbox.files.read_bytes("data/keep.txt") == b"keep me"
    assert _value(sandbox, "kept") == "'variable'"
    sandbox.restore(good)  # and a good snapshot still restores
    assert _value(sandbox, "kept") == "'variable'"


def test_a_failure_after_staging_puts_everything_back(small, monkeypatch):
    """The memory was written and the files swapped in, then the new interpreter failed to
    come up: the old files, interpreter and quota are back."""
    sandbox, base, _ = small
    good = sandbox.snapshot()
    sandbox.files.write_bytes("after.txt", b"written after the snapshot")
    sandbox.execute("kept = 'changed after the snapshot'")
    quota = (sandbox.quota.used_bytes, sandbox.quota.used_files)
    real_operate = sandbox._operate

    def failing(request, cell):
        if request["type"] == "after_restore":
            raise SnapshotError("simulated failure of the restored interpreter")
        return real_operate(request, cell)

    monkeypatch.setattr(sandbox, "_operate", failing)
    with pytest.raises(SnapshotError, match="simulated"):
        sandbox.restore(good)
    monkeypatch.undo()
    assert sandbox.files.read_bytes("after.txt") == b"written after the snapshot"
    assert sandbox.files.read_bytes("data/keep.txt") == b"keep me"
    assert (sandbox.quota.used_bytes, sandbox.quota.used_files) == quota
    assert _value(sandbox, "kept") == "'changed after the snapshot'"
    sandbox.execute("kept = 'variable'")
    sandbox.files.delete("after.txt")


def test_kernel_restore_of_unreadable_layers_keeps_files_and_replies(tmp_path):
    """The reported case: checksum valid, layers unreadable. Before, /workspace was emptied and
    the cell never got its execute_reply."""
    with sandbox_kernel(tmp_path, "--SandboxKernel.host_folder_mode=off") as kernel:
        assert kernel.execute("open('/workspace/keep.txt', 'w').write('precious'); n = 1\n"
                              "%snapshot save good")[0]["status"] == "ok"
        good = (kernel.snapshot_dir / "good.snap").read_bytes()
        key = snapshot_signing.load_key(kernel.key_file)
        (kernel.snapshot_dir / "bad.snap").write_bytes(
            craft.with_layers(good, key, frame=os.urandom(2048), declared={"raw_bytes": 2048}))
        kernel.execute("n = 2")
        reply, outputs = kernel.execute("%snapshot restore bad")
        assert reply["status"] == "error" and reply["ename"] == "SnapshotError"
        assert "Snapshot restore failed" in text(outputs, "stderr")
        assert kernel.stdout("print(open('/workspace/keep.txt').read(), n)") == "precious 2\n"


def test_kernel_refuses_a_bomb_quickly_without_growing_the_host(tmp_path):
    """A ~100 KiB file that expands to 1 GiB, restored by a kernel with a 32 MiB quota: refused,
    and the kernel process neither writes nor allocates anything near 1 GiB."""
    state = tmp_path / "kernel-tmp"  # the kernel's sandbox keeps its state folder in here
    state.mkdir()
    with sandbox_kernel(tmp_path, "--SandboxKernel.host_folder_mode=off",
                        "--SandboxKernel.memory_limit_mib=256",
                        "--SandboxKernel.workspace_quota_mib=32",
                        env={"TMPDIR": str(state)}) as kernel:
        assert kernel.execute("%snapshot save good")[0]["status"] == "ok"
        good = (kernel.snapshot_dir / "good.snap").read_bytes()
        key = snapshot_signing.load_key(kernel.key_file)
        frame, _ = one_file_bomb()
        frame += os.urandom(64 * 1024)  # ~100 KiB on disk; the frame ends before the noise
        bombs = {
            "lying": craft.with_layers(good, key, frame=frame, declared={"raw_bytes": 4096}),
            "many-files": craft.with_layers(good, key, many_files_stream(64, MiB),
                                            declared={"file_bytes": MiB, "entries": 1}),
        }
        process = psutil.Process(kernel.pid)
        assert list(state.glob("jupyter-sandbox-*"))
        state_bytes = _tree_bytes(state)
        for name, data in bombs.items():
            (kernel.snapshot_dir / f"{name}.snap").write_bytes(data)
            written, rss = process.io_counters().write_chars, process.memory_info().rss
            reply, outputs = kernel.execute(f"%snapshot restore {name}")
            assert reply["status"] == "error", outputs
            assert "quota" in text(outputs, "stderr")
            assert process.io_counters().write_chars - written < BUDGET
            assert process.memory_info().rss - rss < BUDGET
            assert _tree_bytes(state) == state_bytes
            assert not list(state.glob("*/.restore-*"))
        assert kernel.stdout("print(1 + 1)") == "2\n"
