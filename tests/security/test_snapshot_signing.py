"""Issue 12, item 4: snapshots are authenticated with a per-installation key.

A snapshot, checkpoint or base image written here ends with an HMAC-SHA256 under a 32-byte
secret (mode 0600). A file that does not verify — made by another installation, or changed
after it was written — is refused with a message saying how to import it;
``jupyter-sandbox snapshot import`` checks every part and re-signs it, after which it works.
"""

from __future__ import annotations

import concurrent.futures
import os
import stat
import subprocess
import sys

import pytest

from jupyter_sandbox.runtime import base_image, snapshot_signing
from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.errors import SnapshotKeyError
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.snapshot import SnapshotError, SnapshotNotTrustedError
from tests.security import snapshot_files as craft
from tests.security.snapshot_kernel import sandbox_kernel, text


def _cli(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jupyter_sandbox.cli", *arguments],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _value(sandbox: Sandbox, expression: str) -> str:
    messages: list[dict] = []
    reply = sandbox.execute(expression, messages.append)
    assert reply.status == "ok", reply.evalue
    return messages[-1]["content"]["data"]["text/plain"]


def test_the_key_is_private_random_and_made_once(tmp_path):
    path = tmp_path / "data" / "snapshot.key"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: snapshot_signing._create_key(path) or path.read_bytes(),
                            range(8)))
    assert len(keys) == 1 and len(keys.pop()) == snapshot_signing.KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.key"]  # no temporary left
    other = snapshot_signing.load_key(tmp_path / "other.key")
    assert other != path.read_bytes()


@pytest.mark.parametrize("damage", ["world-readable", "short", "symlink"])
def test_a_bad_key_file_is_refused_with_what_to_do(tmp_path, damage):
    path = tmp_path / "snapshot.key"
    if damage == "symlink":
        (tmp_path / "real").write_bytes(os.urandom(32))
        os.chmod(tmp_path / "real", 0o600)
        path.symlink_to(tmp_path / "real")
    else:
        path.write_bytes(os.urandom(32 if damage == "world-readable" else 5))
        os.chmod(path, 0o644 if damage == "world-readable" else 0o600)
    with pytest.raises(SnapshotKeyError, match="snapshot signing key"):
        snapshot_signing.load_key(path)


def test_a_snapshot_from_another_installation_is_refused_then_imported(tmp_path):
    with Sandbox(SandboxConfig(snapshot_key_file=tmp_path / "theirs.key")) as theirs:
        theirs.execute("value = 'from elsewhere'")
        foreign = theirs.snapshot()
    mine = SandboxConfig(snapshot_key_file=tmp_path / "mine.key")
    with Sandbox(mine) as sandbox:
        sandbox.execute("value = 'mine'")
        with pytest.raises(SnapshotNotTrustedError) as refused:
            sandbox.restore(foreign)
        assert "not made by this jupyter-sandbox installation" in str(refused.value)
        assert "jupyter-sandbox snapshot import" in str(refused.value)
        assert _value(sandbox, "value") == "'mine'"
        with pytest.raises(SnapshotNotTrustedError):
            Sandbox(mine, snapshot=foreign)
        (tmp_path / "foreign.snap").write_bytes(foreign)
        result = _cli("snapshot", "import", str(tmp_path / "foreign.snap"), "--name", "trusted",
                      "--to", str(tmp_path / "imported"), "--key-file", str(tmp_path / "mine.key"))
        assert result.returncode == 0, result.stderr
        imported = tmp_path / "imported" / "trusted.snap"
        assert str(imported) in result.stdout
        sandbox.restore(imported.read_bytes())
        assert _value(sandbox, "value") == "'from elsewhere'"


def test_a_changed_and_resealed_snapshot_is_refused(tmp_path):
    """A valid SHA-256 is not a signature: changing a file and fixing its checksum fails."""
    config = SandboxConfig(snapshot_key_file=tmp_path / "key")
    with Sandbox(config) as sandbox:
        parts = craft.split(sandbox.snapshot())
        parts.header["execution_count"] = 99
        with pytest.raises(SnapshotNotTrustedError):
            sandbox.restore(craft.seal(parts, key=None))


def test_import_checks_the_file_before_signing(tmp_path):
    (tmp_path / "junk.snap").write_bytes(b"JSBSNAP\x00" + os.urandom(4096))
    result = _cli("snapshot", "import", str(tmp_path / "junk.snap"),
                  "--key-file", str(tmp_path / "key"))
    assert result.returncode == 1
    assert "error:" in result.stderr and "snapshot" in result.stderr
    assert (tmp_path / "junk.snap").read_bytes()[:8] == b"JSBSNAP\x00"  # left as it was


def test_kernel_refuses_a_foreign_snapshot_until_it_is_imported(tmp_path):
    """Through a real kernel and the real command: the refusal says how to import, and the
    imported file (signed with the kernel's key in its Jupyter data dir) restores."""
    with Sandbox(SandboxConfig(snapshot_key_file=tmp_path / "theirs.key")) as theirs:
        theirs.execute("shared = 'shared notebook state'")
        foreign = theirs.snapshot()
    with sandbox_kernel(tmp_path, "--SandboxKernel.host_folder_mode=off") as kernel:
        (kernel.snapshot_dir / "shared.snap").write_bytes(foreign)
        reply, outputs = kernel.execute("%snapshot restore shared")
        assert reply["status"] == "error" and reply["ename"] == "SnapshotError"
        message = text(outputs, "stderr")
        assert "not made by this jupyter-sandbox installation" in message
        assert "jupyter-sandbox snapshot import FILE" in message
        result = _cli("snapshot", "import", str(kernel.snapshot_dir / "shared.snap"),
                      env={"JUPYTER_DATA_DIR": str(kernel.data_dir)})
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(kernel.key_file.stat().st_mode) == 0o600
        reply, outputs = kernel.execute("%snapshot restore shared")
        assert reply["status"] == "ok", outputs
        assert kernel.stdout("print(shared)") == "shared notebook state\n"


def test_an_unsigned_base_image_is_rebuilt_not_used(tmp_path, monkeypatch):
    """The base image is signed too: one that does not verify is replaced by a fresh boot."""
    monkeypatch.setattr(base_image, "_loaded", None)
    monkeypatch.setattr(base_image, "image_path", lambda: tmp_path / "base.snap")
    with Sandbox(SandboxConfig(snapshot_key_file=tmp_path / "other.key")) as other:
        other.execute("planted = 'from a base image signed elsewhere'")
        (tmp_path / "base.snap").write_bytes(other.snapshot())
    with Sandbox() as sandbox:
        assert sandbox.started_from == "boot"
        reply = sandbox.execute("planted")
        assert reply.status == "error" and reply.ename == "NameError"
    rebuilt = (tmp_path / "base.snap").read_bytes()
    key = base_image.key()
    assert key is not None
    # the HMAC covers everything before the SHA-256
    assert snapshot_signing.verify(key, rebuilt[:-64], rebuilt[-32:])
    with Sandbox() as again:
        assert again.started_from == "base-image"


def test_an_old_format_snapshot_is_refused_with_a_clear_message(tmp_path):
    import hashlib
    import json
    import struct

    config = SandboxConfig(snapshot_key_file=tmp_path / "key")
    with Sandbox(config) as sandbox:
        parts = craft.split(sandbox.snapshot())
        parts.header["format"] = 2
        head = json.dumps(parts.header).encode()
        body = b"JSBSNAP\x00" + struct.pack("<I", len(head)) + head + b"".join(parts.page_frames)
        old = body + hashlib.sha256(body).digest()  # format 2: a SHA-256, no signature
        with pytest.raises(SnapshotError, match="format 2 .*older version.*make the snapshot "
                                                "again"):
            sandbox.restore(old)
