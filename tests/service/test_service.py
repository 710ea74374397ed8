"""The sandbox service through its Python client, against a real ``jupyter server``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from jupyter_sandbox.client import (
    AsyncSandboxClient,
    SandboxClient,
    SandboxExecError,
    SandboxLimitError,
    SandboxNotFoundError,
    SandboxServiceError,
)
from tests.server.conftest import Server

from .conftest import MAX_UPLOAD_MIB, temporary_server

API = "sandbox/api/v1/"
MiB = 1 << 20


@pytest.fixture
def client(service_server: Server) -> Iterator[SandboxClient]:
    with SandboxClient(service_server.url, service_server.token) as sandbox_client:
        yield sandbox_client


def test_life_cycle(client: SandboxClient, service_server: Server) -> None:
    with client.create_sandbox(metadata={"owner": "test"}, limits={"memory_mib": 256}) as sandbox:
        assert sandbox.info["state"] == "running"
        assert sandbox.info["limits"]["memory_mib"] == 256
        with service_server.client() as http:  # a kernel JupyterLab lists
            kernels = {k["id"]: k["name"] for k in http.get("api/kernels").json()}
        assert kernels[sandbox.kernel_id] == "sandboxed-python"

        result = sandbox.exec("import numpy as np\nvalue = 40\nprint('hello')\nvalue + 2")
        assert (result.status, result.stdout, result.result) == ("ok", "hello\n", "42")
        failed = sandbox.exec("1 / 0")
        assert failed.status == "error" and failed.reply["ename"] == "ZeroDivisionError"
        with pytest.raises(SandboxExecError, match="ZeroDivisionError"):
            failed.raise_for_status()

        sandbox.write_file("notes/a.txt", "text\n")
        assert sandbox.read_file("/workspace/notes/a.txt") == b"text\n"
        assert sandbox.exec("print(open('notes/a.txt').read(), end='')").stdout == "text\n"
        sandbox.exec("open('made.txt', 'w').write('from inside')")
        assert sandbox.read_file("made.txt") == b"from inside"
        names = {f["name"]: f["type"] for f in sandbox.list_files()}
        assert names["notes"] == "directory" and names["made.txt"] == "file"
        sandbox.delete_file("notes", recursive=True)
        with pytest.raises(SandboxNotFoundError):
            sandbox.read_file("notes/a.txt")

        assert sandbox.previews() == []
        assert sandbox.preview_url(8000) == (
            f"{service_server.url}sandbox/preview/{sandbox.kernel_id}/8000/")

        info = sandbox.snapshot("before")
        assert info["name"] == "before"
        assert [s["name"] for s in sandbox.snapshots()] == ["before"]
        sandbox.exec("value = -1")
        with sandbox.fork(metadata={"kind": "fork"}) as fork:
            assert fork.id != sandbox.id and fork.info["metadata"] == {"kind": "fork"}
            assert fork.exec("value").result == "-1"
            fork.exec("value = 7")
            assert sandbox.exec("value").result == "-1"  # independent
        with client.create_sandbox(from_snapshot=(sandbox.id, "before")) as restored:
            assert restored.exec("value").result == "40"
            assert restored.read_file("made.txt") == b"from inside"
        sandbox_id = sandbox.id
    with pytest.raises(SandboxNotFoundError, match="no sandbox"):
        client.get_sandbox(sandbox_id)


def test_delete_answers_at_once_and_the_kernel_goes_after(client: SandboxClient,
                                                            service_server: Server) -> None:
    """DELETE answers before the kernel process has exited: from then on every route says 404,
    and the kernel leaves the server's list (and its folder the disk) in the background."""
    sandbox = client.create_sandbox()
    sandbox.exec("x = 1")
    kernel_id, sandbox_id = sandbox.kernel_id, sandbox.id
    folder = service_server.runtime_dir.parent / "data" / "sandbox" / "service" / sandbox_id
    assert folder.is_dir()
    sandbox.delete()
    with service_server.client() as http:
        assert http.get(API + f"sandboxes/{sandbox_id}").status_code == 404
        assert http.post(API + f"sandboxes/{sandbox_id}/exec",
                         json={"code": "x"}).status_code == 404
        deadline = time.monotonic() + 120
        while kernel_id in {k["id"] for k in http.get("api/kernels").json()} or folder.exists():
            assert time.monotonic() < deadline, "the deleted sandbox's kernel never went away"
            time.sleep(0.1)


def test_exec_streams_as_it_runs(service_server: Server) -> None:
    async def run() -> None:
        async with AsyncSandboxClient(service_server.url, service_server.token) as client:
            async with await client.create_sandbox() as sandbox:
                arrivals: list[tuple[float, dict]] = []
                async for event in sandbox.exec_stream(
                        "import time\nprint('start', flush=True)\ntime.sleep(1)\nprint('end')"):
                    arrivals.append((time.monotonic(), event))
                first, last = arrivals[0], arrivals[-1]
                assert first[1]["content"]["text"] == "start\n"
                assert last[1]["msg_type"] == "execute_reply"
                assert last[1]["content"]["status"] == "ok"
                assert last[0] - first[0] >= 0.8, "the first event waited for the cell's end"

    asyncio.run(run())


def test_interrupt(service_server: Server) -> None:
    async def run() -> None:
        async with AsyncSandboxClient(service_server.url, service_server.token) as client:
            async with await client.create_sandbox() as sandbox:
                events = sandbox.exec_stream("import time\nprint('go', flush=True)\n"
                                             "time.sleep(60)")
                first = await events.__anext__()
                assert first["content"]["text"] == "go\n"
                await sandbox.interrupt()
                rest = [event async for event in events]
                assert rest[-1]["content"].get("ename") == "KeyboardInterrupt", rest
                assert (await sandbox.exec("1 + 1")).result == "2"

    asyncio.run(run())


def test_twenty_sandboxes_at_once(service_server: Server) -> None:
    async def run() -> None:
        async with AsyncSandboxClient(service_server.url, service_server.token) as client:
            sandboxes = await asyncio.gather(*(client.create_sandbox() for _ in range(20)))
            try:
                assert len({s.id for s in sandboxes}) == 20
                assert len({s.kernel_id for s in sandboxes}) == 20
                results = await asyncio.gather(*(s.exec(f"{i} * 2")
                                                 for i, s in enumerate(sandboxes)))
                assert [r.result for r in results] == [str(i * 2) for i in range(20)]
            finally:
                await asyncio.gather(*(s.delete() for s in sandboxes))

    asyncio.run(run())


def test_files_round_trip_byte_exact(client: SandboxClient) -> None:
    data = os.urandom(20 * MiB)
    with client.create_sandbox() as sandbox:
        info = sandbox.write_file("big/random.bin", data)
        assert info["size"] == len(data)
        assert sandbox.read_file("big/random.bin") == data
        digest = sandbox.exec("import hashlib\nhashlib.sha256(open('big/random.bin', 'rb')"
                              ".read()).hexdigest()").result
        assert digest == repr(hashlib.sha256(data).hexdigest())


def test_paths_outside_the_sandbox_and_oversize_uploads_are_refused(
        client: SandboxClient) -> None:
    with client.create_sandbox() as sandbox:
        for path in ("../../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                     os.path.abspath("pyproject.toml")):
            with pytest.raises(SandboxServiceError) as refused:
                sandbox.read_file(path)
            # Every one is a guest path (``..`` stops at the guest's root; the host's own
            # absolute path means nothing in there), and the guest has none of these files.
            assert refused.value.status == 404, refused.value
            assert "no such file or folder in the sandbox" in str(refused.value)
        for path in ("../../../etc/evil", "/usr/local/lib/evil.py", "bad\x00name"):
            with pytest.raises(SandboxServiceError) as refused:
                sandbox.write_file(path, b"x")
            assert refused.value.status == 400, refused.value
        assert not os.path.exists("/etc/evil")
        with pytest.raises(SandboxLimitError) as too_big:
            sandbox.write_file("huge.bin", b"\0" * ((MAX_UPLOAD_MIB + 1) * MiB))
        assert too_big.value.status == 413 and "upload limit" in str(too_big.value)
        assert "huge.bin" not in {f["name"] for f in sandbox.list_files()}


def test_errors_are_json_and_auth_is_required(service_server: Server) -> None:
    with httpx.Client(base_url=service_server.url + API, timeout=60) as anonymous:
        for method, url in (("GET", "sandboxes"), ("POST", "sandboxes"),
                            ("GET", "openapi.json")):
            response = anonymous.request(method, url)
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "forbidden"
    with service_server.client() as http:
        for body, status in ((b"{", 400), (b"[]", 400), (b'{"limits": {"memory_mib": 1e9}}', 400),
                             (b'{"limits": {"memory_mib": 999999}}', 400),
                             (b'{"shape": 1}', 400),
                             (b'{"from_snapshot": {"sandbox_id": "x", "name": "y"}}', 404)):
            response = http.post(API + "sandboxes", content=body)
            assert response.status_code == status, (body, response.text)
            assert set(response.json()) == {"message", "reason", "code", "hint"}
            assert "Traceback" not in response.text
        assert http.post(API + "sandboxes/nope/exec", json={"code": "1"}).status_code == 404
        assert http.delete(API + "sandboxes/nope").status_code == 404


@pytest.fixture(scope="module")
def small_server() -> Iterator[Server]:
    """A server that keeps at most 2 sandboxes and stops them after 1 s of idleness."""
    yield from temporary_server(max_sandboxes=2, idle_timeout=1.0)


def test_cap_on_sandboxes(small_server: Server) -> None:
    with SandboxClient(small_server.url, small_server.token) as client:
        with client.create_sandbox(), client.create_sandbox():
            with pytest.raises(SandboxLimitError, match="maximum of 2 sandboxes") as refused:
                client.create_sandbox()
            assert refused.value.status == 429 and refused.value.code == "too_many_sandboxes"
        with client.create_sandbox():  # room again once deleted
            pass


def test_idle_sandbox_is_stopped_and_comes_back(small_server: Server) -> None:
    with SandboxClient(small_server.url, small_server.token) as client:
        with client.create_sandbox() as sandbox:
            sandbox.exec("kept = 41")
            sandbox.write_file("kept.txt", b"file")
            old_kernel = sandbox.kernel_id
            deadline = time.monotonic() + 60
            while sandbox.refresh()["state"] != "stopped":  # GET does not count as use
                assert time.monotonic() < deadline, "the idle sandbox was never stopped"
                time.sleep(0.2)
            assert sandbox.kernel_id is None
            assert sandbox.exec("kept + 1").result == "42"
            assert sandbox.read_file("kept.txt") == b"file"
            assert sandbox.refresh()["state"] == "running"
            assert sandbox.kernel_id not in (None, old_kernel)


def test_packages_by_api(client: SandboxClient, tmp_path) -> None:
    from tests.wheels import build_test_wheels

    wheels = build_test_wheels(tmp_path / "wheels")
    with client.create_sandbox() as sandbox:
        for wheel in wheels.iterdir():
            sandbox.write_file(f"wheels/{wheel.name}", wheel.read_bytes())
        installed = sandbox.pip("install", "--no-index", "-f", "wheels", "tinybase==1.0")
        assert any("tinybase" in line for line in installed["result"])
        result = sandbox.exec("import tinybase; print(tinybase.greet('api'))")
        assert result.raise_for_status().stdout == "hello api\n"
        listed = sandbox.pip("list")["result"]
        assert any(line.startswith("tinybase 1.0") for line in listed)
        with pytest.raises(SandboxServiceError) as refused:
            sandbox.pip("install", "--no-index", "-f", "wheels", "fastthing")
        assert refused.value.status == 400
        assert "contains compiled code" in refused.value.message
        with pytest.raises(SandboxServiceError) as bad:
            sandbox.pip("reinstall-everything")
        assert bad.value.status == 400
