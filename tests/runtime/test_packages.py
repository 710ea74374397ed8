"""``%pip`` in a real sandbox: pure-Python wheels from a local --find-links folder (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_sandbox.runtime import packages
from jupyter_sandbox.runtime.config import Limits, PackagePolicy, SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.vfs import Quota
from tests.conftest import stream_text
from tests.wheels import build_test_wheels

#: Offline: only the sandbox's own wheels folder (a guest path), never an index.
LOCAL = "--no-index -f /workspace/wheels"


def _run(sandbox: Sandbox, code: str) -> tuple[object, list[dict]]:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    return reply, messages


def _ok(sandbox: Sandbox, code: str) -> str:
    reply, messages = _run(sandbox, code)
    assert reply.status == "ok", (reply.ename, reply.evalue, stream_text(messages, "stderr"))
    return stream_text(messages)


def _refused(sandbox: Sandbox, code: str) -> str:
    reply, messages = _run(sandbox, code)
    assert reply.status == "error", stream_text(messages)
    return reply.evalue


@pytest.fixture(scope="module")
def notebook_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notebook")
    build_test_wheels(folder / "wheels")
    return folder


@pytest.fixture
def sandbox(notebook_folder, tmp_path):
    with Sandbox(SandboxConfig(host_folder=notebook_folder, state_dir=tmp_path / "state")) as box:
        yield box


def test_install_import_snapshot_restore_and_fork(sandbox):
    out = _ok(sandbox, f"%pip install {LOCAL} tinytop\nimport tinytop\nprint(tinytop.run())")
    assert "Successfully installed tinybase-1.0 tinytop-1.0" in out
    assert "hello top" in out
    assert "numpy" in out  # pip reports the built-in numpy as already satisfied
    listed = _ok(sandbox, "%pip list")
    assert "tinytop" in listed and "installed" in listed and "built-in" in listed
    used = sandbox.quota.used_bytes
    data = sandbox.snapshot()
    _ok(sandbox, "%pip uninstall tinytop tinybase")
    assert "not installed" in _ok(sandbox, "%pip uninstall tinytop")
    assert sandbox.quota.used_bytes < used
    assert not list((sandbox.state_dir / "user-site").iterdir())
    sandbox.restore(data)
    assert sandbox.quota.used_bytes == used
    assert "hello top" in _ok(sandbox, "import importlib, tinybase\nimportlib.reload(tinybase)\n"
                                       "import tinytop\nprint(tinytop.run())")
    [fork] = sandbox.fork()
    with fork:
        assert "hello top" in _ok(fork, "import tinytop\nprint(tinytop.run())")
        assert "tinytop" in _ok(fork, "import importlib.metadata as m\n"
                                      "print(m.version('tinytop'), 'tinytop')")


def test_fresh_sandbox_imports_after_install_in_same_cell(sandbox):
    """A module name looked up (and missed) before the install is found right after it."""
    out = _ok(sandbox, "try:\n    import tinybase\nexcept ImportError:\n    print('missing')\n"
                       f"%pip install -q {LOCAL} tinybase==1.0\n"
                       "import tinybase\nprint(tinybase.greet('x'))")
    assert "missing" in out and "hello x" in out
    out = _ok(sandbox, f"%pip install {LOCAL} tinybase==2.0")
    assert "Successfully installed tinybase-2.0" in out
    assert len(list((sandbox.state_dir / "user-site").glob("tinybase-*.dist-info"))) == 1


def test_requirements_file_from_the_workspace(sandbox):
    sandbox.files.mkdir("reqs")
    sandbox.files.write_text("reqs/requirements.txt",
                             "# pinned\n--no-index\n-f ../wheels\ntinybase==1.0  # base\n")
    out = _ok(sandbox, "%pip install -r reqs/requirements.txt\nimport tinybase")
    assert "Successfully installed tinybase-1.0" in out


def test_compiled_only_package_is_refused(sandbox):
    evalue = _refused(sandbox, f"%pip install {LOCAL} fastthing")
    assert evalue == f"fastthing {packages.COMPILED_REFUSAL}"
    assert packages.COMPILED_REFUSAL == \
        "contains compiled code; the sandbox can only add pure-Python packages"


def test_builtin_package_is_refused_with_its_version(sandbox):
    version = packages.builtin_distributions()["numpy"].version
    evalue = _refused(sandbox, f"%pip install {LOCAL} numpy")
    assert f"numpy is built into the sandbox (version {version})" in evalue
    assert "built into the sandbox" in _refused(sandbox, "%pip uninstall pandas")
    evalue = _refused(sandbox, f"%pip install {LOCAL} oldnumpyuser")
    assert evalue.startswith(f"a package asks for numpy (numpy<2), which is built into the "
                             f"sandbox as version {version}")
    assert "zlib" not in packages.builtin_distributions()  # a C library, not a package


def test_unknown_package_and_unreachable_index(sandbox):
    refused = _refused(sandbox, f"%pip install {LOCAL} nothere")
    assert "no pure-Python release of 'nothere'" in refused
    evalue = _refused(sandbox, "%pip install -i http://127.0.0.1:9/simple tinybase")
    assert evalue.startswith("could not reach the package index")


def test_interrupted_install_changes_nothing(tmp_path):
    manager = packages.PackageManager(tmp_path / "site", Quota(1 << 30, 1000), PackagePolicy(),
                                      lambda _path: b"", lambda _folder: [])
    with pytest.raises(packages.PackageError, match="interrupted; nothing was installed"):
        manager.install(["--no-index", "tinybase"], "/", lambda _line: None, lambda: True)
    assert not (tmp_path / "site").exists()


def test_options_and_paths_stay_inside_the_sandbox(sandbox):
    assert "not supported" in _refused(sandbox, "%pip install --target /tmp/x tinybase")
    assert "only http(s) URLs" in _refused(sandbox, "%pip install 'tinybase @ file:///etc/passwd'")
    assert "must be an http(s) URL" in _refused(sandbox, "%pip install -i file:///etc tinybase")
    assert "cannot read" in _refused(sandbox, "%pip install -r /etc/hostname")


def test_deny_allow_and_disabled(notebook_folder, tmp_path):
    def refusal(policy: PackagePolicy, code: str) -> str:
        config = SandboxConfig(host_folder=notebook_folder, state_dir=tmp_path / str(id(policy)),
                               packages=policy)
        with Sandbox(config) as box:
            return _refused(box, code)

    assert refusal(PackagePolicy(deny=("TinyBase",)), f"%pip install {LOCAL} tinytop") == \
        "tinybase is blocked by the administrator's deny list"
    assert "not on the administrator's allow list" in refusal(
        PackagePolicy(allow=("tinybase",)), f"%pip install {LOCAL} padded")
    assert "turned off" in refusal(PackagePolicy(enabled=False), f"%pip install {LOCAL} tinybase")


def test_quota_is_respected(notebook_folder, tmp_path):
    limits = Limits(workspace_bytes=200 * 1024)
    config = SandboxConfig(host_folder=notebook_folder, state_dir=tmp_path / "s", limits=limits)
    with Sandbox(config) as box:
        evalue = _refused(box, f"%pip install {LOCAL} padded")
        assert "exceed the sandbox's workspace quota" in evalue
        assert not list((box.state_dir / "user-site").iterdir())
        _ok(box, f"%pip install {LOCAL} tinybase")
        assert box.quota.used_bytes > 0


def test_host_api_installs_for_the_next_cell(sandbox):
    lines: list[str] = []
    result = sandbox.pip("install", ["--no-index", "-f", "/workspace/wheels", "tinybase"],
                         lines.append)
    assert result == ["Successfully installed tinybase-2.0"]
    assert any("tinybase" in line for line in lines)
    assert "HELLO x" in _ok(sandbox, "import tinybase\nprint(tinybase.greet('x'))")
    assert "tinybase 2.0 installed" in sandbox.pip("list")
    with pytest.raises(packages.PackageError, match="built into the sandbox"):
        sandbox.pip("install", ["pandas"])
    assert sandbox.pip("uninstall", ["tinybase"]) == ["Successfully uninstalled tinybase-2.0"]


def test_skip_lines_of_a_real_index_name_their_project():
    line = ("  Skipping link: none of the wheel's tags (cp36-abi3-manylinux2014_x86_64) are "
            "compatible (run pip debug --verbose to show compatible tags): https://files.example/"
            "fc/09/argon2_cffi_bindings-21.1.0-cp36-abi3-manylinux2014_x86_64.whl#sha256=ab "
            "(from https://pypi.org/simple/argon2-cffi-bindings/) (requires-python:>=3.6)")
    assert packages._link_project(line) == "argon2-cffi-bindings"
    assert packages._link_project("Skipping link: No sources permitted for sdonly: "
                                  "file:///w/sdonly-1.0.tar.gz") == "sdonly"


# -- parsing and rewriting (no pip, no sandbox) ------------------------------------------------
def _parse(args: list[str], files: dict[str, str] | None = None, user_locations: bool = True):
    from jupyter_sandbox.runtime.pip_requirements import InstallArguments

    stored = {path: text.encode() for path, text in (files or {}).items()}

    def read(path: str) -> bytes:
        if path not in stored:
            raise FileNotFoundError(path)
        return stored[path]

    return InstallArguments(read, user_locations).parse(args, "/workspace")


def test_requirements_are_rendered_from_their_parsed_parts():
    request = _parse(["Tiny_Base [extra] >= 1.0 ; python_version >= '3.8'", "-r", "reqs.txt"],
                     {"/workspace/reqs.txt": "# a comment\nother \\\n  ==2.0  # pinned\n"
                                             "marked; python_version>'3' and extra == 'x'\n"
                                             "--pre\n-f wheels\n-c sub/c.txt\n",
                      "/workspace/sub/c.txt": "tinybase<3\n"})
    assert [str(r) for r in request.requirements] == [
        'Tiny_Base[extra]>=1.0; python_version >= "3.8"', "other==2.0",
        'marked; python_version > "3" and extra == "x"']
    assert [str(r) for r in request.constraints] == ["tinybase<3"]
    assert request.pre and request.find_links_folders == ["/workspace/wheels"]


def test_only_pure_wheel_names_count_as_wheels():
    from jupyter_sandbox.runtime.pip_requirements import pure_wheel

    assert pure_wheel("a-1.0-py3-none-any.whl") == ("a", "1.0")
    assert pure_wheel("a-1.0-py2.py3-none-any.whl") == ("a", "1.0")
    assert pure_wheel("a-1.0-cp315-cp315-linux_x86_64.whl") is None
    assert pure_wheel("a-1.0-py3-abi3-any.whl") is None
    assert pure_wheel("a-1.0.tar.gz") is None and pure_wheel("../x.whl") is None
    request = _parse(["a @ https://h.example/d/a-1.0-py2.py3-none-any.whl#sha256=ab"])
    assert str(request.requirements[0]) == \
        "a @ https://h.example/d/a-1.0-py2.py3-none-any.whl#sha256=ab"
    with pytest.raises(packages.PackageError, match="is for a, not b"):
        _parse(["b @ https://h.example/d/a-1.0-py3-none-any.whl"])
    with pytest.raises(packages.PackageError, match="only a #sha256"):
        _parse(["a @ https://h.example/a-1.0-py3-none-any.whl#egg=a&subdirectory=x"])
    with pytest.raises(packages.PackageError, match="administrator chose the package index"):
        _parse(["a @ https://h.example/a-1.0-py3-none-any.whl"], user_locations=False)


def test_archive_like_names_and_unsafe_constraint_lines_are_refused():
    from packaging.requirements import Requirement

    from jupyter_sandbox.runtime.pip_requirements import constraints_text

    for word in ("evil-1.0.tar.gz", "evil.zip", "evil-1.0.tgz[x]"):
        with pytest.raises(packages.PackageError, match="local folders and source archives"):
            _parse([word])
    with pytest.raises(packages.PackageError, match="include each other too deeply"):
        _parse(["-r", "loop.txt"], {"/workspace/loop.txt": "-r loop.txt\n"})
    for line in ('a; extra == "x -r /etc/passwd"', 'a; extra == "x #y"'):
        with pytest.raises(packages.PackageError, match="cannot be passed to pip safely"):
            constraints_text([Requirement(line)])
    assert constraints_text([Requirement("a<2"), Requirement("b==1")]) == "a<2\nb==1\n"


def test_stubs_keep_only_parsed_fields_and_no_url_dependencies():
    from jupyter_sandbox.runtime.pip_process import stub_from_fields

    stub = stub_from_fields("good", "1.0", ["dep>=1", "evil @ http://127.0.0.1:9/e.tar.gz",
                                            "not valid!!"], ["Test", "bad extra!"])
    assert stub is not None
    assert stub.metadata() == ("Metadata-Version: 2.1\nName: good\nVersion: 1.0\n"
                               "Provides-Extra: test\nRequires-Dist: dep>=1\n")
