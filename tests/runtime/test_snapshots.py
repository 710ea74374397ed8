"""Whole-sandbox snapshots: save, restore, fork, base image, and refusal of bad files."""

from __future__ import annotations

import json
import struct

import pytest

from jupyter_sandbox.runtime import base_image, snapshot, snapshot_signing
from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.snapshot import SnapshotError
from tests.conftest import stream_text

STATE = """
import numpy as np, pandas as pd, time
array = np.arange(1_000_000).reshape(1000, 1000)
frame = pd.DataFrame({"n": range(100_000)})
class Thing:
    value = "original"
log = open("log.txt", "w")
log.write("before\\n")
started = time.monotonic()
"""

CHANGE = """
array[:] = 0
frame["n"] = -1
Thing.value = "changed"
log.write("after\\n")
del pd
"""


def _value(sandbox: Sandbox, expression: str) -> str:
    messages: list[dict] = []
    reply = sandbox.execute(expression, messages.append)
    assert reply.status == "ok", reply.evalue
    return messages[-1]["content"]["data"]["text/plain"]


@pytest.fixture(scope="module")
def saved() -> tuple[Sandbox, bytes]:
    sandbox = Sandbox()
    assert sandbox.execute(STATE).status == "ok"
    yield sandbox, sandbox.snapshot()
    sandbox.close()


def test_restore_brings_back_variables_classes_and_open_files(saved):
    sandbox, data = saved
    sandbox.restore(data)  # whatever the module's other tests left behind
    assert sandbox.execute(CHANGE).status == "ok"
    assert _value(sandbox, "int(array.sum()), int(frame.n.sum()), Thing.value, 'pd' in dir()") \
        == "(0, -100000, 'changed', False)"
    sandbox.restore(data)
    assert _value(sandbox, "int(array.sum(dtype='int64')), int(frame.n.sum()), Thing.value") == \
        "(499999500000, 4999950000, 'original')"
    sandbox.execute("log.write('restored\\n'); log.flush()")
    assert _value(sandbox, "open('log.txt').read()") == "'before\\nrestored\\n'"
    assert _value(sandbox, "time.monotonic() >= started") == "True"


def test_restore_rolls_workspace_files_back(saved):
    sandbox, data = saved
    sandbox.files.write_bytes("later.txt", b"written after the snapshot")
    sandbox.restore(data)
    assert not sandbox.files.exists("later.txt")
    assert sandbox.files.exists("log.txt")


#: What each damage is refused with: the reason, in words a user can act on.
DAMAGE_REASONS = {
    "truncate": r"damaged \(checksum mismatch\)",
    "flip": r"damaged \(checksum mismatch\)",
    "magic": "not a jupyter-sandbox snapshot",
    "version": "format 99 is not supported",
    "artifact": "different guest interpreter build",
    "empty": "not a jupyter-sandbox snapshot",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE_REASONS))
def test_bad_snapshots_are_refused_and_nothing_changes(saved, damage):
    sandbox, data = saved
    sandbox.restore(data)
    assert sandbox.execute("marker = 'untouched'").status == "ok"
    bad = _damaged(data, damage)
    with pytest.raises(SnapshotError, match=DAMAGE_REASONS[damage]):
        sandbox.restore(bad)
    assert _value(sandbox, "marker") == "'untouched'"
    with pytest.raises(SnapshotError, match=DAMAGE_REASONS[damage]):
        Sandbox(snapshot=bad)


def _damaged(data: bytes, how: str) -> bytes:
    if how == "truncate":
        return data[: len(data) // 2]
    if how == "empty":
        return b""
    if how == "magic":
        return b"NOTASNAP" + data[8:]
    if how == "flip":
        flipped = bytearray(data)
        flipped[len(flipped) // 3] ^= 0x40
        return bytes(flipped)
    (head_len,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12 : 12 + head_len])
    header["format" if how == "version" else "artifact"] = 99 if how == "version" else "other"
    head = json.dumps(header).encode()
    return _resealed(data[:8] + struct.pack("<I", len(head)) + head + data[12 + head_len : -64])


def _resealed(body: bytes) -> bytes:
    """``body`` with a valid checksum and this installation's signature: only the part the
    test changed is wrong."""
    import hashlib

    key = snapshot_signing.load_key()
    return body + hashlib.sha256(body).digest() + snapshot_signing.sign(key, body)


def _decode(data: bytes) -> snapshot.SnapshotImage:
    bounds = snapshot.Bounds.of(Limits().memory_bytes, Limits().workspace_bytes,
                                Limits().workspace_files)
    return snapshot.decode(data, snapshot_signing.load_key(), bounds)


def test_version_and_artifact_errors_say_why(saved):
    _, data = saved
    with pytest.raises(SnapshotError, match="format 99"):
        _decode(_damaged(data, "version"))
    with pytest.raises(SnapshotError, match="different guest interpreter"):
        _decode(_damaged(data, "artifact"))
    with pytest.raises(SnapshotError, match="checksum"):
        _decode(_damaged(data, "flip"))


def test_new_sandbox_starts_from_a_snapshot(saved):
    _, data = saved
    with Sandbox(snapshot=data) as copy:
        assert copy.started_from == "snapshot"
        assert _value(copy, "Thing.value, array.shape") == "('original', (1000, 1000))"


def test_forks_have_their_own_files_and_random_streams(saved):
    sandbox, data = saved
    sandbox.restore(data)
    forks = sandbox.fork(3)
    try:
        draws = {_value(fork, "np.random.random()") for fork in forks}
        assert len(draws) == 3
        forks[0].files.write_bytes("only-in-fork-0.txt", b"x")
        assert not forks[1].files.exists("only-in-fork-0.txt")
        assert not sandbox.files.exists("only-in-fork-0.txt")
    finally:
        for fork in forks:
            fork.close()


def test_snapshot_larger_than_the_memory_limit_is_refused(saved):
    _, data = saved
    with pytest.raises(SnapshotError, match="limit"):
        Sandbox(SandboxConfig(limits=Limits(memory_bytes=64 << 20)), snapshot=data)


def test_sandboxes_start_from_the_base_image():
    with Sandbox() as first:
        assert first.started_from in ("base-image", "boot")
    assert base_image.image_path().is_file()
    with Sandbox() as sandbox:
        assert sandbox.started_from == "base-image"
        messages: list[dict] = []
        sandbox.execute("import os; print(os.getcwd(), os.environ['HOME'])", messages.append)
        assert stream_text(messages) == "/workspace /workspace\n"


def test_corrupt_base_image_is_rebuilt_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setattr(base_image, "_loaded", None)
    monkeypatch.setattr(base_image, "image_path", lambda: tmp_path / "base.snap")
    (tmp_path / "base.snap").write_bytes(b"garbage")
    with Sandbox() as sandbox:
        assert sandbox.started_from == "boot"
        assert _value(sandbox, "1 + 1") == "2"
    header = snapshot.read_header((tmp_path / "base.snap").read_bytes(), base_image.key())
    assert header["kind"] == "base-image"


def test_snapshot_magic_save_list_restore_delete(tmp_path):
    with Sandbox(SandboxConfig(snapshot_dir=tmp_path)) as sandbox:
        sandbox.execute("value = 'first'")
        messages: list[dict] = []
        reply = sandbox.execute("%snapshot save before_change", messages.append)
        assert reply.status == "ok"
        assert "Snapshot 'before_change' saved" in stream_text(messages)
        assert (tmp_path / "before_change.snap").is_file()
        sandbox.execute("value = 'second'")
        messages = []
        sandbox.execute("%snapshot list", messages.append)
        assert "before_change" in stream_text(messages)
        messages = []
        sandbox.execute("%snapshot restore before_change", messages.append)
        assert "back to its state after cell [2]" in stream_text(messages)
        assert _value(sandbox, "value") == "'first'"
        reply = sandbox.execute("%snapshot restore ../../etc/passwd")
        assert reply.status == "error" and "invalid snapshot name" in reply.evalue
        reply = sandbox.execute("%snapshot restore missing")
        assert reply.status == "error" and "no snapshot named 'missing'" in reply.evalue
        sandbox.execute("%snapshot delete before_change")
        assert not (tmp_path / "before_change.snap").exists()


def test_damaged_named_snapshot_reports_and_keeps_state(tmp_path):
    with Sandbox(SandboxConfig(snapshot_dir=tmp_path)) as sandbox:
        sandbox.execute("value = 'kept'\n%snapshot save good")
        data = (tmp_path / "good.snap").read_bytes()
        (tmp_path / "good.snap").write_bytes(data[:-100])
        messages: list[dict] = []
        sandbox.execute("%snapshot restore good", messages.append)
        assert "Snapshot restore failed" in stream_text(messages, "stderr")
        assert _value(sandbox, "value") == "'kept'"



def test_forks_of_a_sandbox_with_its_own_state_dir_do_not_share_it(tmp_path):
    with Sandbox(SandboxConfig(state_dir=tmp_path / "parent")) as parent:
        parent.files.write_bytes("shared-before.txt", b"x")
        first, second = parent.fork(2)
        try:
            assert first.state_dir != second.state_dir != parent.state_dir
            first.files.write_bytes("only-first.txt", b"1")
            assert not second.files.exists("only-first.txt")
            assert second.files.read_bytes("shared-before.txt") == b"x"
        finally:
            first.close()
            second.close()
        assert not parent.files.exists("only-first.txt")
