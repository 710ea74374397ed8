"""Issue 12 item 1: the host's pip never imports anything the sandbox wrote, and the sandbox's
site layer is read and changed on the host without following links.

Notebook code can write modules into its own user-site layer (a writable folder on the host);
before the fix the next ``%pip`` ran the host's pip with that folder on ``PYTHONPATH``, so an
``optparse.py`` there ran on the host. Here the guest plants such modules (each would write a
marker file on the host when imported) and real ``%pip`` runs offline: no marker appears.
Links planted in the layer (as a crafted snapshot could leave them) lead nowhere: ``%pip
list``, ``uninstall`` and ``install`` neither read, delete nor write outside the layer.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_sandbox.runtime.config import PackagePolicy, SandboxConfig
from jupyter_sandbox.runtime.packages import USER_SITE_GUEST_PATH, PackageManager
from jupyter_sandbox.runtime.pip_process import FIXED_VARIABLES, PipProcess, stub_from_fields
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.vfs import Quota
from tests.conftest import stream_text
from tests.wheels import build_test_wheels

LOCAL = "--no-index -f /workspace/wheels"
#: Modules the host's pip (or the interpreter starting it) would import if the layer were on
#: its path: stdlib modules pip uses, site hooks, pip itself, one of pip's vendored packages.
PLANTED = ("optparse.py", "sitecustomize.py", "usercustomize.py", "runpy.py", "shlex.py",
           "pip/__init__.py", "pip/__main__.py", "packaging/__init__.py", "certifi/__init__.py")


def _ok(sandbox: Sandbox, code: str) -> str:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    assert reply.status == "ok", (reply.ename, reply.evalue, stream_text(messages, "stderr"))
    return stream_text(messages)


@pytest.fixture
def notebook_folder(tmp_path) -> Path:
    folder = tmp_path / "notebook"
    build_test_wheels(folder / "wheels")
    return folder


def test_modules_the_guest_writes_into_its_site_layer_never_run_on_the_host(notebook_folder,
                                                                            tmp_path):
    markers = tmp_path / "host-markers"
    markers.mkdir()
    with Sandbox(SandboxConfig(host_folder=notebook_folder, state_dir=tmp_path / "state")) as box:
        files = {f"{USER_SITE_GUEST_PATH}/{rel}":
                 f"open({str(markers / rel.replace('/', '_'))!r}, 'w').write('ran')\n"
                 for rel in PLANTED}
        files[f"{USER_SITE_GUEST_PATH}/evil.pth"] = (
            f"import os; open({str(markers / 'pth')!r}, 'w').write('ran')\n")
        _ok(box, f"import os\nfor path, text in {files!r}.items():\n"
                 "    os.makedirs(os.path.dirname(path), exist_ok=True)\n"
                 "    open(path, 'w').write(text)\n")
        site = box.state_dir / "user-site"
        assert (site / "optparse.py").is_file()  # the attack's file really is on the host
        out = _ok(box, f"%pip install {LOCAL} tinytop\nimport tinytop\nprint(tinytop.run())")
        assert "Successfully installed tinybase-1.0 tinytop-1.0" in out and "hello top" in out
        _ok(box, "%pip list")
        _ok(box, f"%pip install -U {LOCAL} tinybase==2.0")
        _ok(box, "%pip uninstall tinytop tinybase")
    assert sorted(os.listdir(markers)) == []


def _host_tree(folder: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        found[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else "dir"
    return found


def test_links_planted_in_the_site_layer_lead_nowhere(notebook_folder, tmp_path):
    # host folders a crafted layer points at: one looks like a distribution, one is empty
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "METADATA").write_text("Metadata-Version: 2.1\nName: outside\nVersion: 1.0\n")
    (outside / "RECORD").write_text("precious.txt,,\n")
    (outside / "precious.txt").write_text("the host's data")
    empty = tmp_path / "empty-host-folder"
    empty.mkdir()
    before = _host_tree(tmp_path / "outside"), _host_tree(empty)
    with Sandbox(SandboxConfig(host_folder=notebook_folder, state_dir=tmp_path / "state")) as box:
        site = box.state_dir / "user-site"
        site.mkdir(exist_ok=True)
        (site / "outside-1.0.dist-info").symlink_to(outside, target_is_directory=True)
        (site / "linked").symlink_to(outside, target_is_directory=True)
        (site / "tinybase").symlink_to(empty, target_is_directory=True)
        victim = site / "victim-1.0.dist-info"
        victim.mkdir()
        (victim / "METADATA").write_text("Metadata-Version: 2.1\nName: victim\nVersion: 1.0\n")
        (victim / "RECORD").write_text(
            f"linked/precious.txt,,\n../../outside/precious.txt,,\n{outside}/precious.txt,,\n"
            "victim-1.0.dist-info/RECORD,,\n")
        fifo = site / "fifo-1.0.dist-info"
        fifo.mkdir()
        os.mkfifo(fifo / "METADATA")  # reading it naively would block the host

        listed = _ok(box, "%pip list")
        assert "victim" in listed
        assert "outside" not in listed and "fifo" not in listed
        assert "not installed" in _ok(box, "%pip uninstall outside")
        assert "Successfully uninstalled victim-1.0" in _ok(box, "%pip uninstall victim")
        out = _ok(box, f"%pip install {LOCAL} tinybase==1.0\n"
                       "import tinybase\nprint(tinybase.greet('site'))")
        assert "Successfully installed tinybase-1.0" in out and "hello site" in out
        assert (site / "tinybase").is_dir() and not (site / "tinybase").is_symlink()
        assert "Successfully uninstalled tinybase-1.0" in _ok(box, "%pip uninstall tinybase")
    assert (_host_tree(outside), _host_tree(empty)) == before


def test_pip_sees_only_stubs_written_from_parsed_metadata(tmp_path, monkeypatch):
    """pip's view of the installed packages is the stub folder: a planted ``.dist-info`` link
    is not in it, and a METADATA's odd fields are not copied through."""
    site = tmp_path / "site"
    site.mkdir()
    real = site / "good-1.0.dist-info"
    real.mkdir()
    (real / "METADATA").write_text("Metadata-Version: 2.1\nName: good\nVersion: 1.0\n"
                                   "Requires-Dist: tinybase>=1\nRequires-Dist: not a req!!\n"
                                   "X-Injected: yes\n")
    (site / "linked-1.0.dist-info").symlink_to(real, target_is_directory=True)
    manager = PackageManager(site, Quota(1 << 30, 1000), PackagePolicy(), lambda _p: b"",
                             lambda _f: [])
    stubs = [item.stub for item in manager._installed().values()]
    assert [(s.name, str(s.version)) for s in stubs if s] == [("good", "1.0")]
    monkeypatch.setenv("JUPYTER_SANDBOX_TEST_SECRET", "do-not-pass")
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_TARGET", str(site))
    pip = PipProcess(tmp_path / "work", [s for s in stubs if s])
    metadata = (tmp_path / "work/installed/good-1.0.dist-info/METADATA").read_text()
    assert "Requires-Dist: tinybase>=1" in metadata
    assert "X-Injected" not in metadata and "not a req" not in metadata
    env = pip.environment
    assert "JUPYTER_SANDBOX_TEST_SECRET" not in env and "PYTHONPATH" not in env
    assert "PIP_TARGET" not in env and env["PIP_INDEX_URL"] == "http://127.0.0.1:9/simple"
    assert env["HOME"] == str(tmp_path / "work/home")
    assert {k: env[k] for k in FIXED_VARIABLES} == FIXED_VARIABLES
    command = pip.command(["--version"])
    assert command[1:4] == ["-I", "-S", "-X"]
    assert str(site) not in " ".join(command)
    lines: list[str] = []
    status, _ = pip.run(["list", "--format=freeze"], lines.append, lambda: False)
    assert status == 0, lines
    assert "good==1.0" in lines and not any("linked" in line for line in lines)
    assert stub_from_fields("bad name!", "1.0") is None
    assert stub_from_fields("ok", "not-a-version") is None
