"""Templates through a real ``jupyter server``: saved from a running sandbox, listed, used by
new sandboxes (with and without a warm pool) which start with its variables, imports and
files, deleted; bad names and files that do not verify are refused with the error envelope."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_sandbox.client import SandboxClient, SandboxNotFoundError, SandboxServiceError
from jupyter_sandbox.kernel.control_protocol import SNAPSHOT_SUFFIX
from tests.server.conftest import Server

API = "sandbox/api/v1/"


@pytest.fixture
def client(service_server: Server) -> Iterator[SandboxClient]:
    with SandboxClient(service_server.url, service_server.token) as sandbox_client:
        yield sandbox_client


def _template_file(server: Server, name: str) -> Path:
    return server.root_dir.parent / "data" / "sandbox" / "service" / "templates" / \
        f"{name}{SNAPSHOT_SUFFIX}"


def test_template_create_list_use_delete(client: SandboxClient,
                                         service_server: Server) -> None:
    with client.create_sandbox() as source:
        source.exec("x = 41\nimport pandas as pd\nfrom json import dumps")
        source.write_file("data.csv", "a,b\n1,2\n")
        info = client.templates.create("answer", source)
        assert info["name"] == "answer" and info["size"] > 0
        assert _template_file(service_server, "answer").stat().st_mode & 0o077 == 0
    assert [t["name"] for t in client.templates.list()] == ["answer"]

    with client.create(template="answer", metadata={"from": "template"}) as sandbox:
        assert sandbox.info["metadata"] == {"from": "template"}
        assert sandbox.exec("x + 1").result == "42"
        # pandas is loaded already (the template's import), not imported again
        assert sandbox.exec("import sys\n'pandas' in sys.modules and "
                            "pd.DataFrame({'a': [1]}).shape").result == "(1, 1)"
        assert sandbox.exec("dumps([1])").result == "'[1]'"
        assert sandbox.read_file("data.csv") == b"a,b\n1,2\n"
        sandbox.exec("x = 0")
    with client.create(template="answer") as again:  # each sandbox gets its own copy
        assert again.exec("x").result == "41"

    with pytest.raises(SandboxServiceError) as taken:
        with client.create_sandbox() as other:
            client.templates.create("answer", other.id)
    assert taken.value.status == 409

    client.templates.delete("answer")
    assert client.templates.list() == []
    with pytest.raises(SandboxNotFoundError):
        client.create(template="answer")
    with pytest.raises(SandboxNotFoundError):
        client.templates.delete("answer")


def test_template_used_through_the_warm_pool(pooled_server: Server) -> None:
    with SandboxClient(pooled_server.url, pooled_server.token) as client:
        deadline = time.monotonic() + 280
        while client.pool_stats()["idle"] == 0:
            assert time.monotonic() < deadline, client.pool_stats()
            time.sleep(0.2)
        with client.create_sandbox() as source:
            source.exec("x = 41")
            client.templates.create("pooled", source)
        hits = client.pool_stats()["hits"]
        with client.create(template="pooled", limits={"memory_mib": 256}) as sandbox:
            assert client.pool_stats()["hits"] == hits + 1  # restored into a pooled kernel
            assert sandbox.exec("x + 1").result == "42"
            result = sandbox.exec("hog = bytearray(400 * 1024 * 1024)")
            assert result.reply["ename"] == "MemoryError"  # the hand-over's limit holds
        client.templates.delete("pooled")


@pytest.mark.parametrize("name", ["../escape", "a b", "x" * 101, "", ".hidden"])
def test_bad_template_name_is_a_400_envelope(service_server: Server, name: str) -> None:
    with service_server.client() as http:
        sandbox = http.post(API + "sandboxes", json={}).json()
        try:
            answer = http.post(API + "templates", json={"name": name,
                                                        "sandbox_id": sandbox["id"]})
            assert answer.status_code == 400
            body = answer.json()
            assert set(body) >= {"message", "reason", "code", "hint"}
            assert body["code"] == "bad_name"
            used = http.post(API + "sandboxes", json={"template": name})
            assert used.status_code in (400, 404)  # "../escape" is no route-safe name either
            assert used.json()["code"] in ("bad_name", "not_found")
        finally:
            http.delete(API + f"sandboxes/{sandbox['id']}")
    assert not list(service_server.root_dir.parent.glob("**/escape*"))


def test_template_file_that_does_not_verify_is_refused(client: SandboxClient,
                                                      service_server: Server) -> None:
    with client.create_sandbox() as source:
        source.exec("secret = 1")
        client.templates.create("tampered", source)
    path = _template_file(service_server, "tampered")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the signature no longer matches
    path.write_bytes(bytes(data))
    before = {s.id for s in client.list_sandboxes()}
    with pytest.raises(SandboxServiceError) as refused:
        client.create(template="tampered")
    assert refused.value.status == 400
    assert refused.value.code == "bad_template"
    assert {s.id for s in client.list_sandboxes()} == before  # no half-made sandbox left
    client.templates.delete("tampered")
