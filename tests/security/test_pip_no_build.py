"""Issue 12 item 2: no build backend ever runs on the host, whatever ``%pip`` is asked.

A real source distribution (``evilsdist``) whose in-tree build backend and ``setup.py`` write
a marker file on the host is served by a local index on 127.0.0.1 and lies in the notebook's
folder (as an archive, unpacked, and in a wheels folder). Every way of pointing the host's pip
at it from a real Sandboxed Python kernel is refused with a clear message, and the marker
never appears. Without the fix, the first three (a direct URL, a constraints line, a
requirements line) ran the backend on the host, since ``--only-binary`` does not cover direct
references; the dependency-by-URL case is stopped by the audit hook in pip's process.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel

from tests.conftest import kernel_cell
from tests.wheels import LocalIndex, build_marker_sdist, build_test_wheels, build_wheel

TIMEOUT = 180


@dataclass
class Attack:
    kc: BlockingKernelClient
    index: LocalIndex
    #: The index's root URL for the attacker's files (``…/pypi``).
    files: str
    simple: str
    marker: Path
    folder: Path


@pytest.fixture(scope="module")
def attack(tmp_path_factory) -> Iterator[Attack]:
    marker = tmp_path_factory.mktemp("host") / "BUILT-ON-THE-HOST"
    served = tmp_path_factory.mktemp("index")
    folder = tmp_path_factory.mktemp("notebook")
    config = tmp_path_factory.mktemp("config")
    build_test_wheels(served)
    sdist = build_marker_sdist(served, "evilsdist", "1.0", marker)
    with LocalIndex() as index:
        simple = index.add("pypi", served)
        files = f"{index.url}/pypi/files"
        sdist_url = f"{files}/{sdist.name}"
        # a pure wheel on the index whose dependency is the sdist, by URL
        build_wheel(served, "usesevil", "1.0", requires=(f"evilsdist @ {sdist_url}",))
        # the notebook's folder: the sdist as an archive, unpacked, and in a wheels folder
        build_test_wheels(folder / "wheels")
        (folder / sdist.name).write_bytes(sdist.read_bytes())
        with tarfile.open(sdist) as archive:
            archive.extractall(folder, filter="data")
        build_marker_sdist(folder / "sdists", "evilsdist", "1.0", marker)
        build_wheel(folder / "urldeps", "usesevil", "1.0", requires=(f"evilsdist @ {sdist_url}",))
        (folder / "requirements.txt").write_text(f"tinybase==1.0\nevilsdist @ {sdist_url}\n")
        (folder / "constraints.txt").write_text(f"evilsdist @ {sdist_url}\n")
        (config / "jupyter_sandbox_kernel_config.py").write_text("")
        km, kc = start_new_kernel(kernel_name="sandboxed-python", cwd=str(folder),
                                  env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)})
        try:
            yield Attack(kc, index, files, simple, marker, folder)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    assert not marker.exists(), "a build backend ran on the host"


def _cell(kc: BlockingKernelClient, code: str) -> tuple[dict, str]:
    return kernel_cell(kc, code, TIMEOUT)


def _refused(attack: Attack, code: str) -> str:
    reply, text = _cell(attack.kc, code)
    assert reply["status"] == "error", (code, text)
    assert not attack.marker.exists(), f"{code!r} ran a build backend on the host"
    return reply["evalue"]


def test_direct_sdist_url_is_refused_before_anything_is_fetched(attack):
    evalue = _refused(attack, f"%pip install 'evilsdist @ {attack.files}/evilsdist-1.0.tar.gz'")
    assert "a direct URL must name a pure-Python wheel" in evalue
    assert "built on the host" in evalue
    evalue = _refused(attack, f"%pip install {attack.files}/evilsdist-1.0.tar.gz")
    assert "must name a pure-Python wheel" in evalue
    assert not [p for p in attack.index.fetched("pypi") if "evilsdist" in p]


def test_sdist_through_a_constraints_file_is_refused(attack):
    evalue = _refused(attack, "%pip install -c constraints.txt tinybase")
    assert evalue.startswith("line 1 of /workspace/constraints.txt: ")
    assert "must name a pure-Python wheel" in evalue


def test_sdist_through_a_requirements_file_is_refused(attack):
    evalue = _refused(attack, "%pip install -r requirements.txt")
    assert evalue.startswith("line 2 of /workspace/requirements.txt: ")
    assert "must name a pure-Python wheel" in evalue
    reply, text = _cell(attack.kc, "import importlib.util\n"
                                   "print(importlib.util.find_spec('tinybase'))")
    assert text.strip() == "None"  # all or nothing: tinybase (line 1) was not installed either


@pytest.mark.parametrize(("argument", "expected"), [
    ("-e evilsdist-1.0", "editable installs (-e) build the project from source"),
    ("--editable=./evilsdist-1.0", "editable installs (-e)"),
    ("./evilsdist-1.0", "local folders and source archives are built from source"),
    ("evilsdist-1.0.tar.gz", "local folders and source archives"),
    ("'evilsdist @ file:///workspace/evilsdist-1.0.tar.gz'", "only http(s) URLs"),
    ("'evilsdist @ git+http://127.0.0.1:9/evilsdist'", "version-control references"),
    ("git+http://127.0.0.1:9/evilsdist#egg=evilsdist", "version-control references"),
    ("--no-binary=:all: tinybase", "only matters when building from source"),
    ("--config-settings=x=y tinybase", "only matters when building from source"),
    ("--global-option=--x tinybase", "only matters when building from source"),
    ("--use-pep517 tinybase", "only matters when building from source"),
])
def test_source_references_and_build_options_are_refused(attack, argument, expected):
    assert expected in _refused(attack, f"%pip install {argument}")


@pytest.mark.parametrize(("line", "expected"), [
    ("-e ./evilsdist-1.0", "editable installs (-e)"),
    ("./evilsdist-1.0", "local folders and source archives"),
    ("tinybase --config-settings=x=y", "only matters when building from source"),
    ("tinybase --global-option=--x", "only matters when building from source"),
    ("--no-binary :all:", "only matters when building from source"),
    ("tinybase --hash=sha256:00", "--hash (pip's hash-checking mode) is not supported"),
    ("--trusted-host 127.0.0.1", "option --trusted-host is not allowed in a requirements file"),
    ("--use-feature=truststore", "not allowed in a requirements file"),
    ("tinybase @ https://127.0.0.1:9/${HOME}/tinybase-1.0-py3-none-any.whl", "not expanded"),
])
def test_file_lines_that_could_build_are_refused(attack, line, expected):
    _cell(attack.kc, f"open('bad-requirements.txt', 'w').write({line!r} + '\\n')")
    evalue = _refused(attack, "%pip install -r bad-requirements.txt tinybase")
    assert evalue.startswith("line 1 of /workspace/bad-requirements.txt: "), evalue
    assert expected in evalue


def test_sdist_on_an_index_or_in_a_folder_is_never_built(attack):
    source_only = "evilsdist has no pure-Python wheel, only a source distribution"
    assert _refused(attack, f"%pip install -i {attack.simple} evilsdist").startswith(source_only)
    evalue = _refused(attack, "%pip install --no-index -f sdists evilsdist")
    assert evalue.startswith(source_only)


def test_dependency_naming_an_sdist_by_url_is_never_built(attack):
    # a wheel from the index: pip finds the URL dependency itself; its process may not start
    # the build backend (audit hook), and the cell says why
    evalue = _refused(attack, f"%pip install -i {attack.simple} usesevil")
    assert evalue.startswith("pip tried to run a build backend on the host for evilsdist")
    assert "nothing was installed" in evalue
    # a wheel from the sandbox: its METADATA is read as data and refused before pip runs
    evalue = _refused(attack, "%pip install --no-index -f urldeps usesevil")
    assert evalue.startswith("usesevil-1.0-py3-none-any.whl (a dependency): ")
    assert "must name a pure-Python wheel" in evalue


def test_pure_wheels_by_url_and_from_a_folder_still_install(attack):
    reply, text = _cell(attack.kc, f"%pip install 'tinybase @ {attack.files}/"
                                   "tinybase-1.0-py3-none-any.whl'\n"
                                   "import tinybase\nprint(tinybase.greet('url'))")
    assert reply["status"] == "ok", (reply, text)
    assert "Successfully installed tinybase-1.0" in text and "hello url" in text
    reply, text = _cell(attack.kc, "%pip install --no-index -f wheels tinytop")
    assert reply["status"] == "ok", (reply, text)
    assert "Successfully installed tinytop-1.0" in text
    assert not attack.marker.exists()
