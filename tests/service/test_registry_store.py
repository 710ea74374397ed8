"""The sandbox service's persistence without a server: the SQLite store (``store.py``), the
checks a stored record goes through on load (``SandboxRegistry.record_from_row``) and the
lifecycle policy's defaults and maxima (``lifecycle.py``)."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat
from pathlib import Path

import pytest

from jupyter_sandbox.server_extension.service.errors import ServiceError
from jupyter_sandbox.server_extension.service.lifecycle import LifecyclePolicy, OnTimeout
from jupyter_sandbox.server_extension.service.registry import (
    SandboxLimits,
    SandboxRegistry,
    SandboxState,
)
from jupyter_sandbox.server_extension.service.store import (
    SCHEMA_VERSION,
    RegistryStore,
    RegistryStoreError,
)

SANDBOX_ID = "0123456789abcdef0123456789abcdef"


def test_records_round_trip_privately_and_in_creation_order(tmp_path: Path) -> None:
    path = tmp_path / "service.sqlite3"
    store = RegistryStore(path)
    store.save("b", {"id": "b", "n": 1})
    store.save("a", {"id": "a", "n": 2})
    store.save("b", {"id": "b", "n": 3})  # a change keeps its place
    store.delete("missing")
    assert [(i, json.loads(r)["n"]) for i, r in store.load()] == [("b", 3), ("a", 2)]
    store.delete("b")
    store.close()
    store.close()  # twice is fine
    again = RegistryStore(path)
    assert [i for i, _ in again.load()] == ["a"]
    again.close()
    for file in tmp_path.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_database_of_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "service.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(RegistryStoreError, match="newer jupyter-sandbox") as refused:
        RegistryStore(path)
    assert str(path) in str(refused.value) and "move it aside" in str(refused.value)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "service.sqlite3"
    path.write_bytes(b"\0garbage" * 512)
    with pytest.raises(RegistryStoreError, match="SQLite cannot read it"):
        RegistryStore(path)
    assert path.read_bytes() == b"\0garbage" * 512
    assert sorted(p.name for p in tmp_path.iterdir()) == ["service.sqlite3"]


def registry(tmp_path: Path) -> SandboxRegistry:
    return SandboxRegistry(None, None, tmp_path, max_sandboxes=4,
                           lifecycle=LifecyclePolicy.of(0, 900, "stop", 0, 0),
                           limits=SandboxLimits(512, 64, 0), start_timeout=10,
                           log=logging.getLogger("test"))


def stored(**fields: object) -> str:
    record = {"id": SANDBOX_ID, "state": "stopped", "created": 1.0, "limits": None,
              "metadata": {"a": 1}, "timeout": 60, "idle_timeout": 5, "on_timeout": "delete",
              "stopped_reason": "idle", "checkpointed_at": 2.0}
    record.update(fields)
    return json.dumps(record)


def test_a_stored_record_comes_back_as_it_was(tmp_path: Path) -> None:
    record = registry(tmp_path).record_from_row(SANDBOX_ID, stored())
    assert record.state is SandboxState.STOPPED and record.error is None
    assert record.folder == tmp_path / SANDBOX_ID
    assert (record.lifecycle.timeout, record.lifecycle.on_timeout) == (60, OnTimeout.DELETE)
    assert record.metadata == {"a": 1} and record.checkpointed_at == 2.0
    assert record.stopped_reason is not None and record.stopped_reason.value == "idle"
    lost = registry(tmp_path).record_from_row(SANDBOX_ID, stored(state="running",
                                                                 stopped_reason=None))
    assert lost.state is SandboxState.STOPPED
    assert lost.stopped_reason is not None and lost.stopped_reason.value == "server-lost"
    assert json.loads(json.dumps(lost.persistent()))["state"] == "stopped"


@pytest.mark.parametrize(("row_id", "text", "why"), [
    (SANDBOX_ID, "{", "not JSON"),
    (SANDBOX_ID, "[]", "not a record of this sandbox"),
    ("f" * 32, stored(), "not a record of this sandbox"),
    ("../../etc", stored(id="../../etc"), "not a sandbox id"),
    (SANDBOX_ID, stored(limits={"memory_mib": 4096}), "limits.memory_mib may be at most 512"),
    (SANDBOX_ID, stored(metadata=[1]), "metadata is not an object"),
    (SANDBOX_ID, stored(timeout="soon"), "number of seconds"),
    (SANDBOX_ID, stored(on_timeout="explode"), "\"stop\" or \"delete\""),
    (SANDBOX_ID, stored(created=10 ** 400), "created is not a time"),
    (SANDBOX_ID, stored(checkpointed_at=True), "checkpointed_at is not a time"),
    (SANDBOX_ID, stored(state="zombie"), "state 'zombie' is unknown"),
    (SANDBOX_ID, stored(stopped_reason="bored"), "stopped_reason 'bored' is unknown"),
])
def test_a_tampered_record_is_listed_as_unusable(tmp_path: Path, row_id: str, text: str,
                                                 why: str) -> None:
    record = registry(tmp_path).record_from_row(row_id, text)
    assert record.state is SandboxState.BROKEN
    assert record.error is not None and why in record.error
    assert record.id == row_id
    if row_id != SANDBOX_ID:  # never a folder outside the service's, never the folder itself
        assert record.folder in (tmp_path, tmp_path / row_id) and ".." not in record.folder.parts


def test_policy_defaults_are_capped_by_the_maxima() -> None:
    policy = LifecyclePolicy.of(0, 900, "stop", 3600, 300)
    assert (policy.timeout, policy.idle_timeout) == (3600, 300)
    assert policy.choose({}).to_json() == {"timeout": 3600, "idle_timeout": 300,
                                           "on_timeout": "stop"}
    assert policy.choose({"timeout": 10, "on_timeout": "delete"}).on_timeout is OnTimeout.DELETE
    for body in ({"timeout": 0}, {"idle_timeout": 301}, {"timeout": float("inf")},
                 {"on_timeout": None}):
        with pytest.raises(ServiceError) as refused:
            policy.choose(body)
        assert refused.value.status_code == 400
    free = LifecyclePolicy.of(0, 0, "delete", 0, 0)
    assert free.choose({"timeout": 0, "idle_timeout": 10 ** 9}).to_json() == {
        "timeout": 0, "idle_timeout": 10 ** 9, "on_timeout": "delete"}
