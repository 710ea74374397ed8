"""Issue 12 item 3: notebook code cannot make the host fetch from an index or URL of its
choosing once the administrator has chosen the index (``pip_index_url``) or an allow list.

A local index on 127.0.0.1 serves the administrator's index under ``/admin`` and an
attacker's under ``/user`` and records every request. A real Sandboxed Python kernel
configured with ``pip_index_url`` installs from ``/admin``; every way of naming ``/user``
from a cell or a requirements/constraints file is refused, and ``/user`` is never fetched.
``pip_user_indexes`` (``PackagePolicy.user_indexes``) lets an administrator allow it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel

from jupyter_sandbox.runtime.config import PackagePolicy, SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import kernel_cell, stream_text
from tests.wheels import LocalIndex, build_test_wheels, build_wheel

TIMEOUT = 180
LOCKED = "the administrator chose the package index for this sandbox"


@dataclass
class Served:
    index: LocalIndex
    admin: str
    user: str
    #: Another user-given index, for the one test that allows user indexes on purpose.
    opt_in: str
    folder: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    admin_files = build_test_wheels(tmp_path_factory.mktemp("admin-index"))
    user_files = build_test_wheels(tmp_path_factory.mktemp("user-index"))
    folder = tmp_path_factory.mktemp("notebook")
    build_test_wheels(folder / "wheels")
    with LocalIndex() as index:
        admin = index.add("admin", admin_files)
        user = index.add("user", user_files)
        opt_in = index.add("opt-in", user_files)
        # a wheel in the sandbox whose dependency names the attacker's URL
        build_wheel(folder / "urldeps", "callshome", "1.0",
                    requires=(f"tinybase @ {index.url}/user/files/tinybase-1.0-py3-none-any.whl",))
        yield Served(index, admin, user, opt_in, folder)
        assert not index.fetched("user"), index.fetched("user")


@pytest.fixture(scope="module")
def kc(served, tmp_path_factory) -> Iterator[BlockingKernelClient]:
    config = tmp_path_factory.mktemp("config")
    (config / "jupyter_sandbox_kernel_config.py").write_text(
        f"c.SandboxKernel.pip_index_url = {served.admin!r}\n")
    km, client = start_new_kernel(kernel_name="sandboxed-python", cwd=str(served.folder),
                                  env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)})
    yield client
    client.stop_channels()
    km.shutdown_kernel(now=True)


def _cell(kc: BlockingKernelClient, code: str) -> tuple[dict, str]:
    return kernel_cell(kc, code, TIMEOUT)


def _attacks(served: Served) -> list[str]:
    user, files = served.user, f"{served.index.url}/user/files"
    wheel = f"{files}/tinybase-1.0-py3-none-any.whl"
    return [f"-i {user} tinybase", f"--index-url {user} tinybase", f"--index-url={user} tinybase",
            f"-i{user} tinybase", f"--extra-index-url {user} tinybase",
            f"--extra-index-url={user} tinybase", f"-f {files}/ tinybase",
            f"--find-links={files}/ tinybase", f"'tinybase @ {wheel}'", wheel]


def test_the_administrators_index_is_used(served, kc):
    reply, text = _cell(kc, "%pip install tinybase==1.0\nimport tinybase\n"
                            "print(tinybase.greet('admin'))")
    assert reply["status"] == "ok", (reply, text)
    assert "Successfully installed tinybase-1.0" in text and "hello admin" in text
    assert "/admin/simple/tinybase/" in served.index.fetched("admin")


def test_a_cell_cannot_name_another_index_or_url(served, kc):
    for attack in _attacks(served):
        reply, _ = _cell(kc, f"%pip install {attack}")
        assert reply["status"] == "error", attack
        assert LOCKED in reply["evalue"], (attack, reply["evalue"])
    assert not served.index.fetched("user")


def test_a_requirements_file_cannot_name_another_index_or_url(served, kc):
    user, files = served.user, f"{served.index.url}/user/files"
    lines = [f"-i {user}", f"--index-url={user}", f"--extra-index-url {user}", f"-f {files}/",
             f"tinybase @ {files}/tinybase-1.0-py3-none-any.whl"]
    for number, line in enumerate(lines):
        name = f"reqs-{number}.txt"
        _cell(kc, f"open({name!r}, 'w').write('tinybase==1.0\\n' + {line!r} + '\\n')")
        for option in ("-r", "-c"):
            reply, _ = _cell(kc, f"%pip install {option} {name} tinybase")
            assert reply["status"] == "error", (option, line)
            assert reply["evalue"].startswith(f"line 2 of /workspace/{name}: "), reply["evalue"]
            assert LOCKED in reply["evalue"]
    assert not served.index.fetched("user")


def test_a_sandbox_wheel_cannot_name_a_url_dependency(served, kc):
    reply, _ = _cell(kc, "%pip install --no-index -f urldeps callshome")
    assert reply["status"] == "error"
    assert reply["evalue"].startswith("callshome-1.0-py3-none-any.whl (a dependency): ")
    assert LOCKED in reply["evalue"]
    assert not served.index.fetched("user")


def test_local_wheel_folders_still_work(served, kc):
    reply, text = _cell(kc, "%pip install --no-index -f wheels tinytop")
    assert reply["status"] == "ok", (reply, text)
    assert "Successfully installed tinytop-1.0" in text
    assert not served.index.fetched("user")


# -- the policy's other settings, on the runtime's Sandbox ----------------------------------
def _refusal(box: Sandbox, code: str) -> str:
    messages: list[dict] = []
    reply = box.execute(code, messages.append)
    assert reply.status == "error", stream_text(messages)
    return reply.evalue


@pytest.mark.parametrize("policy", [
    PackagePolicy(allow=("tinybase", "tinytop")),  # an allow list locks the index too
    PackagePolicy(user_indexes=False),  # locked although the host's pip config is used
])
def test_allow_list_or_explicit_false_locks_user_indexes(served, tmp_path, policy):
    config = SandboxConfig(host_folder=served.folder, state_dir=tmp_path / "s", packages=policy)
    with Sandbox(config) as box:
        for attack in _attacks(served):
            assert LOCKED in _refusal(box, f"%pip install {attack}"), attack
    assert not served.index.fetched("user")


def test_user_indexes_can_be_allowed_explicitly(served, tmp_path):
    policy = PackagePolicy(index_url=served.admin, user_indexes=True)
    config = SandboxConfig(host_folder=served.folder, state_dir=tmp_path / "s", packages=policy)
    with Sandbox(config) as box:
        messages: list[dict] = []
        reply = box.execute(f"%pip install -i {served.opt_in} tinybase==2.0", messages.append)
        assert reply.status == "ok", (reply.evalue, stream_text(messages))
    assert "/opt-in/simple/tinybase/" in served.index.fetched("opt-in")
