"""The sandbox service's lifecycle through a real ``jupyter server``: per-sandbox ``timeout``,
``idle_timeout`` and ``on_timeout``, ``keep_alive``, the reason a sandbox stopped, and the
persistent registry across a clean stop, a SIGKILL and tampered state files."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from jupyter_sandbox.client import (
    AsyncSandboxClient,
    SandboxClient,
    SandboxNotFoundError,
    SandboxServiceError,
)
from jupyter_sandbox.runtime.snapshot_signing import SIGNATURE_BYTES
from jupyter_sandbox.server_extension.service.registry import RESUME_FILE
from tests import waiting
from tests.server.conftest import Server, short_temp_dir

from .conftest import configured_server, temporary_server

API = "sandbox/api/v1/"
WAIT = 120.0
#: The lifecycle server's maximum lifetime (also its default, since its own default is none).
MAX_TIMEOUT = 3600
#: A snapshot file ends with the SHA-256 of what precedes it, then its signature.
TRAILER = 32 + SIGNATURE_BYTES


#: Polls the service over HTTP, so less often than the default, and up to WAIT.
wait_for = functools.partial(waiting.wait_for, timeout=WAIT, interval=0.2)


#: ``configured_server`` as a context manager (a second server can reuse the same folders).
serve = contextlib.contextmanager(configured_server)


def service_folder(base: Path) -> Path:
    return base / "data" / "sandbox" / "service"


@pytest.fixture(scope="module")
def lifecycle_server() -> Iterator[Server]:
    yield from temporary_server(idle_timeout=0, max_sandbox_timeout=MAX_TIMEOUT,
                                checkpoint_idle_seconds=1.0)


@pytest.fixture
def client(lifecycle_server: Server) -> Iterator[SandboxClient]:
    with SandboxClient(lifecycle_server.url, lifecycle_server.token) as sandbox_client:
        yield sandbox_client


def state_of(sandbox: Any) -> str:
    return str(sandbox.refresh()["state"])  # GET does not count as use


def test_timeout_stops_with_its_reason_and_the_next_exec_resumes(client: SandboxClient) -> None:
    with client.create(timeout=4) as sandbox:  # create_sandbox by its short name
        assert (sandbox.info["timeout"], sandbox.info["on_timeout"]) == (4, "stop")
        assert sandbox.info["expires_at"] is not None and sandbox.info["stopped_reason"] is None
        sandbox.exec("value = 41")
        sandbox.write_file("kept.txt", b"file")
        wait_for(lambda: state_of(sandbox) == "stopped", "the timeout to stop the sandbox")
        info = sandbox.info
        assert info["stopped_reason"] == "timeout" and info["kernel_id"] is None
        assert info["stopped_at"] >= info["started_at"]
        assert sandbox.exec("value + 1").result == "42"
        assert sandbox.read_file("kept.txt") == b"file"
        info = sandbox.refresh()
        assert info["state"] == "running" and info["stopped_reason"] is None
        assert info["expires_at"] > info["started_at"] > info["created"]


@pytest.mark.parametrize("timer", ["timeout", "idle_timeout"])
def test_on_timeout_delete_deletes_the_sandbox(client: SandboxClient, lifecycle_server: Server,
                                                timer: str) -> None:
    sandbox = client.create_sandbox(on_timeout="delete", **{timer: 3})
    folder = service_folder(lifecycle_server.runtime_dir.parent) / sandbox.id
    assert folder.is_dir()
    sandbox.exec("x = 1")

    def gone() -> bool:
        try:
            sandbox.refresh()
        except SandboxNotFoundError:
            return True
        return False

    wait_for(gone, f"the {timer} to delete the sandbox")
    with pytest.raises(SandboxNotFoundError):
        sandbox.exec("x")
    wait_for(lambda: not folder.exists(), "its folder to be removed (after its kernel)")
    assert sandbox.id not in {s.id for s in client.list_sandboxes()}


def test_idle_timeout_stops_an_unused_sandbox(client: SandboxClient) -> None:
    with client.create_sandbox(idle_timeout=2) as sandbox:
        assert sandbox.info["idle_timeout"] == 2
        assert sandbox.info["timeout"] == MAX_TIMEOUT  # the server's default, capped
        sandbox.exec("import numpy as np\nkept = np.arange(5)")
        wait_for(lambda: state_of(sandbox) == "stopped", "the idle timeout")
        assert sandbox.info["stopped_reason"] == "idle"
        assert sandbox.exec("int(kept.sum())").result == "10"


def test_keep_alive_extends_the_lifetime_and_resets_the_idle_timer(
        client: SandboxClient) -> None:
    with client.create_sandbox(timeout=3, idle_timeout=3) as sandbox:
        first = sandbox.info["expires_at"]
        info = sandbox.keep_alive(timeout=600)
        assert info["timeout"] == 600 and info["expires_at"] >= first + 590
        # Past the first lifetime and idle timeout, kept alive by calls alone (no exec).
        until = time.time() + 8
        while time.time() < until:
            assert sandbox.keep_alive()["state"] == "running"
            time.sleep(0.5)
        assert state_of(sandbox) == "running"
        wait_for(lambda: state_of(sandbox) == "stopped", "the idle timeout after keep_alive")
        assert sandbox.info["stopped_reason"] == "idle"
        for body in ({"timeout": -1}, {"timeout": "soon"}, {"timeout": MAX_TIMEOUT + 1},
                     {"timeout": 10 ** 400},
                     {"timeout": 0}, {"other": 1}):
            with lifecycle_client(client) as http:
                answer = http.post(f"sandboxes/{sandbox.id}/keep_alive", json=body)
            assert answer.status_code == 400, (body, answer.text)


def test_a_kernel_shut_down_outside_the_service_is_stopped_as_killed(
        client: SandboxClient, lifecycle_server: Server) -> None:
    with client.create_sandbox() as sandbox:
        sandbox.exec("value = 3")
        used = sandbox.refresh()["last_activity"]
        wait_for(lambda: (sandbox.refresh()["checkpointed_at"] or 0) >= used,
                 "the idle recovery point")
        with lifecycle_server.client() as http:  # as JupyterLab's "shut down kernel"
            assert http.delete(f"api/kernels/{sandbox.kernel_id}").status_code == 204
        wait_for(lambda: state_of(sandbox) == "stopped", "the service to notice")
        assert sandbox.info["stopped_reason"] == "killed"
        assert sandbox.exec("value * 14").result == "42"


def lifecycle_client(client: SandboxClient) -> httpx.Client:
    token = client._async.token
    return httpx.Client(base_url=client.url + API, timeout=60,
                        headers={"Authorization": f"token {token}"})


def test_create_body_fields_are_validated(client: SandboxClient) -> None:
    bad = [({"timeout": -1}, "must not be negative"), ({"timeout": "1"}, "number of seconds"),
           ({"timeout": True}, "number of seconds"), ({"idle_timeout": [1]}, "number of seconds"),
           ({"idle_timeout": 10 ** 400}, "number of seconds"),
           ({"timeout": MAX_TIMEOUT + 1}, f"at most {MAX_TIMEOUT}"),
           ({"timeout": 0}, f"at most {MAX_TIMEOUT}"),
           ({"on_timeout": "pause"}, "\"stop\" or \"delete\"")]
    with lifecycle_client(client) as http:
        before = len(http.get("sandboxes").json()["sandboxes"])
        for body, message in bad:
            answer = http.post("sandboxes", json=body)
            assert answer.status_code == 400, (body, answer.text)
            envelope = answer.json()
            assert set(envelope) == {"message", "reason", "code", "hint"}
            assert message in envelope["message"], (body, envelope)
        assert len(http.get("sandboxes").json()["sandboxes"]) == before
        document = http.get("openapi.json").json()
    create = document["components"]["schemas"]["CreateSandbox"]["properties"]
    assert create["timeout"]["maximum"] == MAX_TIMEOUT
    assert create["on_timeout"]["enum"] == ["stop", "delete"]
    assert "/sandboxes/{sandbox_id}/keep_alive" in document["paths"]


# -- restarts --------------------------------------------------------------------------------
@pytest.fixture
def base() -> Iterator[Path]:
    folder = short_temp_dir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def server_info_file(server: Server) -> Path:
    """The running server's ``jpserver-<pid>.json`` (a killed server leaves its own behind)."""
    (info,) = (path for path in server.runtime_dir.glob("jpserver-*.json")
               if psutil.pid_exists(int(json.loads(path.read_text())["pid"])))
    return info


def kill_server(server: Server) -> None:
    """SIGKILL the server, then end the kernels it started (they would only notice later)."""
    info = server_info_file(server)
    process = psutil.Process(int(json.loads(info.read_text())["pid"]))
    children = process.children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    info.unlink()
    for child in children:
        if child.is_running():
            child.kill()
    psutil.wait_procs(children, timeout=60)


def test_clean_stop_then_restart_lists_and_resumes_every_sandbox(base: Path) -> None:
    with serve(base) as first, SandboxClient(first.url, first.token) as client:
        running = client.create_sandbox(metadata={"name": "running"})
        running.exec("value = 'set before the stop'")
        running.write_file("notes/a.txt", b"kept")
        running.snapshot("named")
        stopped = client.create_sandbox(idle_timeout=1)
        stopped.exec("other = 2")
        wait_for(lambda: state_of(stopped) == "stopped", "the idle stop")
    database = service_folder(base) / "service.sqlite3"
    with sqlite3.connect(database) as db:
        rows = {row[0]: json.loads(row[1]) for row in db.execute(
            "SELECT id, record FROM sandboxes")}
    assert rows[running.id]["state"] == "stopped"
    assert rows[running.id]["stopped_reason"] == "server-stopped"
    assert rows[stopped.id]["stopped_reason"] == "idle"

    with serve(base) as second, SandboxClient(second.url, second.token) as client:
        listed = {s.id: s.info for s in client.list_sandboxes()}
        assert set(listed) == {running.id, stopped.id}
        assert listed[running.id]["metadata"] == {"name": "running"}
        assert listed[running.id]["stopped_reason"] == "server-stopped"
        assert listed[stopped.id]["idle_timeout"] == 1
        again = client.get_sandbox(running.id)
        assert again.exec("value").result == "'set before the stop'"
        assert again.read_file("notes/a.txt") == b"kept"
        assert [s["name"] for s in again.snapshots()] == ["named"]
        assert client.get_sandbox(stopped.id).exec("other * 21").result == "42"
        again.delete()


def test_sigkill_keeps_the_record_files_and_the_last_recovery_point(base: Path) -> None:
    async def lose_a_running_cell(server: Server, sandbox_id: str, name: str) -> None:
        async with AsyncSandboxClient(server.url, server.token) as client:
            sandbox = await client.get_sandbox(sandbox_id)
            events = sandbox.exec_stream(f"{name} = 'after the recovery point'\n"
                                         "import time\nprint('go', flush=True)\n"
                                         "time.sleep(600)")
            async with contextlib.aclosing(events):
                first = await events.__anext__()
                assert first["content"]["text"] == "go\n"
                kill_server(server)  # while the cell runs: nothing is saved after it began
                with contextlib.suppress(httpx.HTTPError):  # the connection just breaks
                    async for _event in events:
                        pass

    # 1. An idle recovery point, then a cell that is running when the server is killed.
    with serve(base, checkpoint_idle_seconds=1.0) as first, \
            SandboxClient(first.url, first.token) as client:
        sandbox = client.create_sandbox(metadata={"kind": "survivor"})
        sandbox.exec("kept = 7")
        used = sandbox.refresh()["last_activity"]
        wait_for(lambda: (sandbox.refresh()["checkpointed_at"] or 0) >= used,
                 "the idle recovery point")
        asyncio.run(lose_a_running_cell(first, sandbox.id, "lost"))

    # 2. No idle recovery points at all: a file written through the files API still survives.
    with serve(base, checkpoint_idle_seconds=0) as second, \
            SandboxClient(second.url, second.token) as client:
        (listed,) = client.list_sandboxes()
        assert listed.id == sandbox.id and listed.info["metadata"] == {"kind": "survivor"}
        assert listed.info["state"] == "stopped"
        assert listed.info["stopped_reason"] == "server-lost"
        assert listed.exec("kept * 6").result == "42"
        assert "NameError" in listed.exec("lost").reply["ename"]
        listed.write_file("data/upload.bin", b"\x00\x01uploaded")  # on disk before 201
        listed.exec("not_saved = 1")
        asyncio.run(lose_a_running_cell(second, sandbox.id, "lost_again"))

    with serve(base) as third, SandboxClient(third.url, third.token) as client:
        (listed,) = client.list_sandboxes()
        assert listed.info["stopped_reason"] == "server-lost"
        assert listed.read_file("data/upload.bin") == b"\x00\x01uploaded"
        assert listed.exec("kept").result == "7"
        for name in ("not_saved", "lost_again"):
            assert listed.exec(name).reply["ename"] == "NameError"
        listed.delete()


def test_a_sandbox_made_from_a_template_survives_an_immediate_sigkill(base: Path) -> None:
    """The template's state is the new sandbox's recovery point as soon as the create answers
    (no idle checkpoint needed): a server killed right after resumes it with the template."""
    with serve(base, checkpoint_idle_seconds=0) as first, \
            SandboxClient(first.url, first.token) as client:
        with client.create_sandbox() as source:
            source.exec("from_template = 41")
            client.templates.create("answer", source)
        made = client.create(template="answer")
        kill_server(first)
    with serve(base) as second, SandboxClient(second.url, second.token) as client:
        again = client.get_sandbox(made.id)
        assert again.exec("from_template + 1").result == "42"
        again.delete()


def test_tampered_snapshot_or_record_breaks_only_that_sandbox(base: Path) -> None:
    with serve(base) as first, SandboxClient(first.url, first.token) as client:
        ids = {}
        for name in ("good", "bad_snapshot", "bad_record", "no_snapshot", "unreadable"):
            sandbox = client.create_sandbox(metadata={"name": name})
            sandbox.exec(f"who = {name!r}")
            ids[name] = sandbox.id
    folder = service_folder(base)
    snapshot = folder / ids["bad_snapshot"] / RESUME_FILE
    # Changed and its checksum made to match again: only the signature can tell.
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0xFF
    body_end = len(data) - TRAILER
    data[body_end:body_end + 32] = hashlib.sha256(data[:body_end]).digest()
    snapshot.write_bytes(bytes(data))
    (folder / ids["no_snapshot"] / RESUME_FILE).unlink()
    (folder / ids["unreadable"] / RESUME_FILE).unlink()
    (folder / ids["unreadable"] / RESUME_FILE).mkdir()  # a folder where the file was
    with sqlite3.connect(folder / "service.sqlite3") as db:
        db.execute("UPDATE sandboxes SET record = ? WHERE id = ?",
                   (json.dumps({"id": ids["bad_record"], "state": "stopped",
                                "limits": {"memory_mib": 10 ** 9}}), ids["bad_record"]))
        db.execute("INSERT INTO sandboxes (id, record, updated) VALUES (?, ?, ?)",
                   ("not-an-id", "{not json", time.time()))

    with serve(base) as second, SandboxClient(second.url, second.token) as client, \
            second.client() as http:
        listed = {s.id: s.info for s in client.list_sandboxes()}
        assert set(listed) == {*ids.values(), "not-an-id"}
        assert listed[ids["bad_record"]]["state"] == "error"
        assert "limits.memory_mib may be at most" in listed[ids["bad_record"]]["error"]
        assert listed["not-an-id"]["state"] == "error"
        assert "not JSON" in listed["not-an-id"]["error"]

        kernels_before = {k["id"] for k in http.get("api/kernels").json()}
        bad = client.get_sandbox(ids["bad_snapshot"])
        with pytest.raises(SandboxServiceError) as refused:
            bad.exec("open('/workspace/ran.txt', 'w').write('ran')")
        assert refused.value.status == 409 and refused.value.code == "sandbox_unusable"
        assert "recovery point" in refused.value.message
        assert "its signature does not match" in refused.value.message
        assert bad.refresh()["state"] == "error"
        assert {k["id"] for k in http.get("api/kernels").json()} == kernels_before
        assert snapshot.read_bytes() == bytes(data)  # the evidence is kept
        with pytest.raises(SandboxServiceError) as again:
            bad.read_file("ran.txt")
        assert again.value.status == 409
        with pytest.raises(SandboxServiceError) as missing:
            client.get_sandbox(ids["no_snapshot"]).exec("1")
        assert missing.value.status == 409 and "is missing" in missing.value.message
        with pytest.raises(SandboxServiceError) as unreadable:
            client.get_sandbox(ids["unreadable"]).exec("1")
        assert unreadable.value.status == 409 and "cannot be read" in unreadable.value.message
        with pytest.raises(SandboxServiceError) as refused_record:
            client.get_sandbox(ids["bad_record"]).exec("1")
        assert refused_record.value.status == 409

        good = client.get_sandbox(ids["good"])
        assert good.exec("who").result == "'good'"
        assert http.delete(API + "sandboxes/not-an-id").status_code == 204
        assert (folder / ids["good"]).is_dir() and folder.is_dir()
        client.get_sandbox(ids["bad_record"]).delete()
        # its folder is removed after the answer, once no kernel can use it
        wait_for(lambda: not (folder / ids["bad_record"]).exists(), "its folder to go")
        assert {s.id for s in client.list_sandboxes()} == {
            ids["good"], ids["bad_snapshot"], ids["no_snapshot"], ids["unreadable"]}


def test_corrupt_database_refuses_the_service_and_keeps_the_file(base: Path) -> None:
    folder = service_folder(base)
    folder.mkdir(parents=True)
    database = folder / "service.sqlite3"
    garbage = b"this is not a SQLite database" * 100
    database.write_bytes(garbage)
    with serve(base) as server, server.client() as http:
        for method, url in (("GET", "sandboxes"), ("POST", "sandboxes"),
                            ("GET", "sandboxes/x")):
            answer = http.request(method, API + url)
            assert answer.status_code == 503, answer.text
            envelope = answer.json()
            assert envelope["code"] == "registry_unavailable"
            assert str(database) in envelope["message"]
        assert http.get("api/status").status_code == 200  # the rest of the server works
    assert database.read_bytes() == garbage
    assert not os.path.exists(str(database) + "-wal")
