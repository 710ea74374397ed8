"""Issue 12, item 4: a crafted snapshot file must not write host files.

The layers of a snapshot (``/workspace``, ``/tmp``, the ``%pip`` user site) are our own format
read by our own code (``runtime/snapshot_layers.py``), never ``tarfile``. Each test crafts a
real snapshot file whose layer stream tries one escape, signs it with the sandbox's own key (so
the signature is not what stops it), restores it into a real sandbox or kernel, and checks it is
refused with nothing written anywhere: not beside the sandbox's state folder, not in marker
folders, and the sandbox's own files and variables unchanged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from jupyter_sandbox.runtime import snapshot_signing
from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.snapshot import SnapshotError
from tests.security import snapshot_files as craft
from tests.security.snapshot_kernel import sandbox_kernel, text

WORKSPACE = "/workspace"

#: name -> a layer stream that tries to get out of the staging folder or make a non-file.
ATTACKS = {
    "dotdot": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                           craft.entry(b"f", b"../../../escaped.txt", 0o600, b"pwned")),
    "dotdot-inside": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                                  craft.entry(b"d", b"sub", 0o700),
                                  craft.entry(b"f", b"sub/../../../escaped.txt", 0o600, b"x")),
    "absolute": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                             craft.entry(b"f", b"/MARKER/escaped.txt", 0o600, b"pwned")),
    "symlink": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                            craft.entry(b"l", b"link", 0o777, b"/MARKER")),
    "hardlink": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                             craft.entry(b"h", b"hard", 0o600, b"/MARKER/secret.txt")),
    "char-device": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                                craft.entry(b"c", b"null", 0o600)),
    "block-device": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                                 craft.entry(b"b", b"sda", 0o600)),
    "fifo": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                         craft.entry(b"p", b"pipe", 0o600)),
    "nul-byte": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                             craft.entry(b"f", b"a\x00b", 0o600, b"x")),
    "empty-component": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                                    craft.entry(b"d", b"a", 0o700),
                                    craft.entry(b"f", b"a//b", 0o600, b"x")),
    "dot": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                        craft.entry(b"f", b".", 0o600, b"x")),
    "over-long": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                              craft.entry(b"f", b"n" * 256, 0o600, b"x")),
    "file-before-folder": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                                       craft.entry(b"f", b"nofolder/x.txt", 0o600, b"x")),
    "setuid": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                           craft.entry(b"f", b"suid", 0o4755, b"x")),
    "file-then-folder-of-same-name": craft.stream(
        craft.entry(b"L", WORKSPACE.encode()), craft.entry(b"f", b"same", 0o600, b"x"),
        craft.entry(b"d", b"same", 0o700), craft.entry(b"f", b"same/x", 0o600, b"y")),
    "unknown-layer": craft.stream(craft.entry(b"L", b"/etc"),
                                  craft.entry(b"f", b"passwd", 0o600, b"root::0:0")),
    "host-path-layer": craft.stream(craft.entry(b"L", b"../../.."),
                                    craft.entry(b"f", b"escaped.txt", 0o600, b"x")),
    "no-end": craft.stream(craft.entry(b"L", WORKSPACE.encode()),
                           craft.entry(b"f", b"ok.txt", 0o600, b"x"), end=False),
}


_KIND = "hold an entry of kind b'{}': only files and folders are allowed"
_UNSAFE = "hold an unsafe name b'{}"

#: attack -> the reason (a regex on the SnapshotError's message) it must be refused for, so a
#: crafted file refused for another reason (a bad signature, a broken frame) fails the test.
REASONS = {
    "dotdot": re.escape(_UNSAFE.format("../../../escaped.txt'")),
    "dotdot-inside": re.escape(_UNSAFE.format("sub/../../../escaped.txt'")),
    "absolute": re.escape(_UNSAFE.format("/")),
    "symlink": re.escape(_KIND.format("l")),
    "hardlink": re.escape(_KIND.format("h")),
    "char-device": re.escape(_KIND.format("c")),
    "block-device": re.escape(_KIND.format("b")),
    "fifo": re.escape(_KIND.format("p")),
    "nul-byte": re.escape(_UNSAFE.format("a\\x00b'")),
    "empty-component": re.escape(_UNSAFE.format("a//b'")),
    "dot": re.escape(_UNSAFE.format(".'")),
    "over-long": re.escape(_UNSAFE.format("nnnnnnnn")),
    "file-before-folder": re.escape("hold b'nofolder/x.txt' before its folder"),
    "setuid": re.escape("file b'suid' has mode 4755: only 600 and 700 are allowed"),
    "file-then-folder-of-same-name": re.escape("hold b'same' twice"),
    "unknown-layer": re.escape("name an unknown or repeated layer '/etc'"),
    "host-path-layer": re.escape("name an unknown or repeated layer '../../..'"),
    "no-end": re.escape("the snapshot's files are cut short or larger than they declare"),
}


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Everything under ``folder`` (without following links): path -> content (None: folder)."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), folder)] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, folder)] = (b"<link>" if os.path.islink(path)
                                                    else Path(path).read_bytes())
    return found


@pytest.fixture
def victim(tmp_path):
    """A sandbox with its own key and state folder beside a host marker folder, holding a
    file and a variable the attack must not change."""
    marker = tmp_path / "MARKER"
    marker.mkdir()
    (marker / "secret.txt").write_text("host secret")
    config = SandboxConfig(state_dir=tmp_path / "state", snapshot_key_file=tmp_path / "key")
    with Sandbox(config) as sandbox:
        assert sandbox.execute("open('/workspace/mine.txt', 'w').write('mine'); kept = 41 + 1"
                               ).status == "ok"
        yield sandbox, tmp_path


def _value(sandbox: Sandbox, expression: str) -> str:
    messages: list[dict] = []
    reply = sandbox.execute(expression, messages.append)
    assert reply.status == "ok", reply.evalue
    return messages[-1]["content"]["data"]["text/plain"]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_crafted_layers_are_refused_and_write_nothing(victim, attack):
    sandbox, base = victim
    key = snapshot_signing.load_key(base / "key")
    raw = ATTACKS[attack].replace(b"/MARKER", str(base / "MARKER").encode())
    evil = craft.with_layers(sandbox.snapshot(), key, raw)
    before = _tree(base)
    with pytest.raises(SnapshotError, match=REASONS[attack]):
        sandbox.restore(evil)
    assert _tree(base) == before  # nothing beside the state folder, in it, or in the markers
    assert sandbox.files.read_bytes("mine.txt") == b"mine"
    assert _value(sandbox, "kept") == "42"
    assert not list((base / "state").glob(".restore-*"))


def test_a_crafted_snapshot_cannot_start_a_sandbox_either(tmp_path):
    config = SandboxConfig(state_dir=tmp_path / "state", snapshot_key_file=tmp_path / "key")
    key = snapshot_signing.load_key(tmp_path / "key")
    with Sandbox(config) as sandbox:
        good = sandbox.snapshot()
    raw = ATTACKS["dotdot"]
    with pytest.raises(SnapshotError, match=REASONS["dotdot"]):
        Sandbox(config, snapshot=craft.with_layers(good, key, raw))
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key", "state"]


def test_import_refuses_crafted_layers_and_writes_nothing(tmp_path):
    """``jupyter-sandbox snapshot import`` parses the layers too: it never signs an attack."""
    config = SandboxConfig(state_dir=tmp_path / "state", snapshot_key_file=tmp_path / "key")
    with Sandbox(config) as sandbox:
        good = sandbox.snapshot()
    other_key = snapshot_signing.load_key(tmp_path / "elsewhere.key")
    evil = tmp_path / "evil.snap"
    evil.write_bytes(craft.with_layers(good, other_key, ATTACKS["symlink"]))
    out = tmp_path / "imported"
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_sandbox.cli", "snapshot", "import", str(evil),
         "--to", str(out), "--key-file", str(tmp_path / "key")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result
    assert "only files and folders are allowed" in result.stderr
    assert not out.exists()


def test_packing_never_follows_a_symlink_found_on_disk(tmp_path):
    """Even a link planted in a layer folder on the host is neither followed nor carried."""
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-SECRET-CONTENT")
    (tmp_path / "host-folder").mkdir()
    (tmp_path / "host-folder" / "inner.txt").write_text("HOST-FOLDER-CONTENT")
    config = SandboxConfig(state_dir=tmp_path / "state", snapshot_key_file=tmp_path / "key")
    with Sandbox(config) as sandbox:
        sandbox.files.write_bytes("real.txt", b"real")
        upper = tmp_path / "state" / "workspace"
        os.symlink(secret, upper / "link-to-file")
        os.symlink(tmp_path / "host-folder", upper / "link-to-folder")
        os.symlink(tmp_path / "nowhere", upper / "dangling")
        data = sandbox.snapshot()
    layers = zstandard.ZstdDecompressor().stream_reader(craft.split(data).layers_frame).read()
    assert b"real.txt" in layers
    for leaked in (b"HOST-SECRET-CONTENT", b"HOST-FOLDER-CONTENT", b"link-to", b"dangling"):
        assert leaked not in layers
    with Sandbox(SandboxConfig(snapshot_key_file=tmp_path / "key"), snapshot=data) as copy:
        assert copy.files.read_bytes("real.txt") == b"real"
        assert not copy.files.exists("link-to-file")
        assert not copy.files.exists("link-to-folder")


def test_kernel_refuses_a_crafted_named_snapshot_and_answers(tmp_path):
    """Through a real kernel: ``%snapshot restore`` of a crafted file gets an error reply, the
    host marker folder is unchanged and the notebook's files and variables are kept."""
    marker = tmp_path / "MARKER"
    marker.mkdir()
    (marker / "secret.txt").write_text("host secret")
    with sandbox_kernel(tmp_path, "--SandboxKernel.host_folder_mode=off") as kernel:
        assert kernel.execute("open('/workspace/mine.txt', 'w').write('mine'); kept = 7\n"
                              "%snapshot save good")[0]["status"] == "ok"
        good = (kernel.snapshot_dir / "good.snap").read_bytes()
        key = snapshot_signing.load_key(kernel.key_file)
        raw = ATTACKS["absolute"].replace(b"/MARKER", str(marker).encode())
        (kernel.snapshot_dir / "evil.snap").write_bytes(craft.with_layers(good, key, raw))
        before = _tree(tmp_path / "MARKER")
        reply, outputs = kernel.execute("%snapshot restore evil")
        assert reply["status"] == "error"
        assert reply["ename"] == "SnapshotError"
        assert "unsafe name" in text(outputs, "stderr")
        assert _tree(tmp_path / "MARKER") == before
        assert kernel.stdout("print(open('/workspace/mine.txt').read(), kept)") == "mine 7\n"
