"""``Sandbox.mount_workspace``: a running sandbox without a host folder (a pre-started kernel)
gets the notebook's folder at /workspace exactly as a sandbox started with it — same listing,
files, local imports and working directory — with nothing of its earlier /workspace showing,
host files as safe as at a normal start (read-only mode, overlay copies, links that lead out),
and clear refusals that change nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_sandbox.runtime.config import HostFolderMode, SandboxConfig
from jupyter_sandbox.runtime.errors import WorkspaceMountError
from jupyter_sandbox.runtime.sandbox import Sandbox

PROBE = """
import os, sys
import helper
print(sorted(os.listdir('/workspace')))
print(os.getcwd())
print(open('data.csv').read().strip())
print(helper.VALUE)
print('' in sys.path)
"""


def output(sandbox: Sandbox, code: str) -> str:
    """The cell's stdout and stderr, and its error, as one text."""
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    text = "".join(m["content"].get("text", "") for m in messages
                   if m["msg_type"] == "stream")
    if reply.status != "ok":
        text += f"{reply.ename}: {reply.evalue}"
    return text


@pytest.fixture
def notebook_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n1,2\n")
    (folder / "helper.py").write_text("VALUE = 'from helper.py'\n")
    (folder / "analysis.ipynb").write_text("{}")
    return folder


def test_mounted_folder_behaves_as_a_folder_given_at_start(notebook_folder: Path):
    with Sandbox(SandboxConfig(host_folder=notebook_folder)) as started_with_it:
        expected = output(started_with_it, PROBE)
    with Sandbox() as pooled:
        assert pooled.status()["host_folder_mode"] == "off"
        mounted = pooled.mount_workspace(notebook_folder, HostFolderMode.OVERLAY)
        assert mounted == Path(os.path.realpath(notebook_folder))
        got = output(pooled, PROBE)
        status = pooled.status()
    assert got == expected
    assert "from helper.py" in got and "/workspace\n" in got
    assert status["host_folder_mode"] == "overlay"
    workspace = next(m for m in status["mounts"] if m["path"] == "/workspace")
    assert workspace["host_folder"] == str(mounted)


def test_what_the_guest_did_in_workspace_before_does_not_show(notebook_folder: Path):
    with Sandbox() as sandbox:
        sandbox.execute("open('/workspace/left-behind.txt', 'w').write('x' * 1000)\n"
                        "import os; os.mkdir('/workspace/old-folder')")
        used_before = sandbox.quota.used_files
        sandbox.mount_workspace(notebook_folder, HostFolderMode.OVERLAY)
        listing = output(sandbox, "import os; print(sorted(os.listdir('/workspace')))")
        assert listing.strip() == str(sorted(p.name for p in notebook_folder.iterdir()))
        assert sandbox.quota.used_files == used_before - 2
        assert not (notebook_folder / "left-behind.txt").exists()


def test_readonly_mode_protects_host_files_and_new_files_stay_private(notebook_folder: Path):
    with Sandbox() as sandbox:
        sandbox.mount_workspace(notebook_folder, HostFolderMode.READONLY)
        changed = output(sandbox, "open('data.csv', 'w').write('changed')")
        removed = output(sandbox, "import os; os.remove('helper.py')")
        assert "Error" in changed and "Error" in removed
        output(sandbox, "open('new.txt', 'w').write('private')")
        assert output(sandbox, "print(open('new.txt').read())").strip() == "private"
        assert sandbox.status()["host_folder_mode"] == "readonly"
    assert (notebook_folder / "data.csv").read_text() == "a,b\n1,2\n"
    assert (notebook_folder / "helper.py").exists()
    assert not (notebook_folder / "new.txt").exists()


def test_overlay_mode_copies_changes_into_the_sandbox(notebook_folder: Path):
    with Sandbox() as sandbox:
        sandbox.mount_workspace(notebook_folder, HostFolderMode.OVERLAY)
        output(sandbox, "open('data.csv', 'w').write('changed')")
        assert output(sandbox, "print(open('data.csv').read())").strip() == "changed"
    assert (notebook_folder / "data.csv").read_text() == "a,b\n1,2\n"


def test_a_link_in_the_mounted_folder_never_leads_out(notebook_folder: Path, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    (notebook_folder / "escape.txt").symlink_to(secret)
    (notebook_folder / "inside.csv").symlink_to(notebook_folder / "data.csv")
    with Sandbox() as sandbox:
        sandbox.mount_workspace(notebook_folder, HostFolderMode.OVERLAY)
        escaped = output(sandbox, "print(open('/workspace/escape.txt').read())")
        inside = output(sandbox, "print(open('/workspace/inside.csv').read())")
    assert "host secret" not in escaped and "PermissionError" in escaped
    assert inside.strip() == "a,b\n1,2"


def test_refusals_change_nothing(notebook_folder: Path, tmp_path: Path):
    with Sandbox() as sandbox:
        sandbox.execute("kept = 1")
        with pytest.raises(WorkspaceMountError, match="absolute"):
            sandbox.mount_workspace("relative/folder", HostFolderMode.OVERLAY)
        with pytest.raises(WorkspaceMountError, match="does not exist"):
            sandbox.mount_workspace(tmp_path / "missing", HostFolderMode.OVERLAY)
        with pytest.raises(WorkspaceMountError, match="'off'"):
            sandbox.mount_workspace(notebook_folder, HostFolderMode.OFF)
        assert sandbox.status()["host_folder_mode"] == "off"
        sandbox.mount_workspace(notebook_folder, HostFolderMode.OVERLAY)
        other = tmp_path / "other"
        other.mkdir()
        with pytest.raises(WorkspaceMountError, match="already shows"):
            sandbox.mount_workspace(other, HostFolderMode.OVERLAY)
        assert output(sandbox, "print(kept, open('data.csv').read().splitlines()[1])"
                      ).strip() == "1 1,2"


def test_a_guest_with_files_open_in_workspace_is_refused(notebook_folder: Path):
    with Sandbox() as sandbox:
        sandbox.execute("held = open('/workspace/held.txt', 'w')")
        with pytest.raises(WorkspaceMountError, match="held.txt"):
            sandbox.mount_workspace(notebook_folder, HostFolderMode.OVERLAY)
        assert sandbox.status()["host_folder_mode"] == "off"
        assert output(sandbox, "held.write('ok'); held.close(); "
                               "print(open('/workspace/held.txt').read())").strip() == "ok"


def test_snapshot_and_restore_after_the_mount(notebook_folder: Path):
    with Sandbox() as sandbox:
        sandbox.mount_workspace(notebook_folder, HostFolderMode.OVERLAY)
        output(sandbox, "x = 5; open('made.txt', 'w').write('mine')")
        data = sandbox.snapshot()
        output(sandbox, "import os; os.remove('made.txt'); x = 0")
        sandbox.restore(data)
        assert output(sandbox, "print(x, open('made.txt').read(), "
                               "open('data.csv').read().splitlines()[0])").strip() == "5 mine a,b"
