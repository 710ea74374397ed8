"""The service's warm pool through a real ``jupyter server`` (``pool_size`` 4): sandboxes are
handed over from pre-started kernels with the request's limits enforced, a burst larger than
the pool still gets interactive sandboxes (the rest start normally), the pool refills, its
statistics are served, and stopping the server stops its kernels."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from jupyter_sandbox.client import AsyncSandboxClient, SandboxClient
from tests.server.conftest import Server, short_temp_dir

from .conftest import POOL_SIZE, configured_server

#: Seconds the pool may take to fill on this loaded 2-core machine.
FILL_DEADLINE = 280.0


def wait_for_stats(client: SandboxClient, ready: Callable[[dict[str, Any]], bool],
                   deadline: float = FILL_DEADLINE) -> dict[str, Any]:
    """The pool's statistics once ``ready`` holds for them (fails at the deadline)."""
    end = time.monotonic() + deadline
    stats = client.pool_stats()
    while not ready(stats):
        if time.monotonic() > end:
            pytest.fail(f"the pool did not get there within {deadline:g} s: {stats}")
        time.sleep(0.2)
        stats = client.pool_stats()
    return stats


def full(stats: dict[str, Any]) -> bool:
    return stats["idle"] == stats["size"]


@pytest.fixture
def pool_client(pooled_server: Server) -> Iterator[SandboxClient]:
    with SandboxClient(pooled_server.url, pooled_server.token) as client:
        wait_for_stats(client, full)
        yield client


def test_pooled_create_exec_delete(pool_client: SandboxClient, pooled_server: Server) -> None:
    before = pool_client.pool_stats()
    assert before["size"] == POOL_SIZE
    assert pool_client.list_sandboxes() == []  # pooled kernels are no sandboxes
    with pooled_server.client() as http:
        kernels = {k["id"] for k in http.get("api/kernels").json()}
    assert len(kernels) >= POOL_SIZE
    with pool_client.create_sandbox(metadata={"owner": "pool-test"}) as sandbox:
        after = pool_client.pool_stats()
        assert after["hits"] == before["hits"] + 1
        assert sandbox.kernel_id in kernels  # one of the kernels that were waiting
        assert sandbox.info["metadata"] == {"owner": "pool-test"}
        assert [s.id for s in pool_client.list_sandboxes()] == [sandbox.id]
        assert sandbox.exec("1 + 1").result == "2"
        sandbox.write_file("a.txt", "pooled")
        assert sandbox.exec("open('a.txt').read()").result == "'pooled'"
        assert after["handover_p50_ms"] is not None
        assert after["in_use"] >= 1
    assert pool_client.list_sandboxes() == []


def test_limits_applied_at_handover_are_enforced(pool_client: SandboxClient) -> None:
    hits = pool_client.pool_stats()["hits"]
    with pool_client.create_sandbox(limits={"memory_mib": 256, "cell_timeout": 5}) as sandbox:
        assert pool_client.pool_stats()["hits"] == hits + 1  # handed over, not started
        assert sandbox.info["limits"]["memory_mib"] == 256
        result = sandbox.exec("hog = bytearray(400 * 1024 * 1024)")
        assert result.status == "error" and result.reply["ename"] == "MemoryError"
        assert sandbox.exec("small = bytearray(50 * 1024 * 1024); len(small)").result == str(
            50 * 1024 * 1024)
        slow = sandbox.exec("while True:\n    pass")
        assert slow.reply["ename"] == "TimeoutError"
        assert sandbox.exec("1 + 1").result == "2"


def test_burst_of_twenty_then_the_pool_refills(pool_client: SandboxClient,
                                               pooled_server: Server) -> None:
    before = pool_client.pool_stats()

    async def burst() -> list[str]:
        async with AsyncSandboxClient(pooled_server.url, pooled_server.token) as client:
            sandboxes = await asyncio.gather(*(client.create_sandbox() for _ in range(20)))
            try:
                assert len({s.id for s in sandboxes}) == 20
                assert len({s.kernel_id for s in sandboxes}) == 20
                results = await asyncio.gather(*(s.exec("1 + 1") for s in sandboxes))
                return [r.result for r in results]
            finally:
                await asyncio.gather(*(s.delete() for s in sandboxes))

    assert asyncio.run(burst()) == ["2"] * 20
    stats = pool_client.pool_stats()
    taken = stats["hits"] - before["hits"]
    assert taken >= POOL_SIZE  # the pool's kernels went first
    assert taken + stats["misses"] - before["misses"] == 20  # the rest started normally
    refilled = wait_for_stats(pool_client, full)
    assert refilled["starting"] == 0
    with pool_client.create_sandbox() as sandbox:  # served from the refilled pool
        assert pool_client.pool_stats()["hits"] == refilled["hits"] + 1
        assert sandbox.exec("40 + 2").result == "42"


def test_pool_route_is_in_the_openapi_document(pooled_server: Server) -> None:
    with pooled_server.client() as http:
        document = http.get("sandbox/api/v1/openapi.json").json()
        stats = http.get("sandbox/api/v1/pool").json()
    operation = document["paths"]["/pool"]["get"]
    schema = document["components"]["schemas"]["PoolStats"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] \
        .endswith("/PoolStats")
    assert set(stats) == set(schema["properties"]) == set(schema["required"])


def test_stopping_the_server_stops_its_pooled_kernels() -> None:
    base = short_temp_dir()
    try:
        with contextlib.contextmanager(configured_server)(base, pool_size=2) as server:
            with SandboxClient(server.url, server.token) as client:
                wait_for_stats(client, full)
            with server.client() as http:
                pooled = [k["id"] for k in http.get("api/kernels").json()]
            service = base / "data" / "sandbox" / "service"
            folders = [p for p in service.iterdir() if p.is_dir() and len(p.name) == 32]
            assert len(pooled) == 2 and len(folders) == 2
        left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                if any(f"kernel-{kernel}.json" in " ".join(p.info["cmdline"] or [])
                       for kernel in pooled)]
        assert left == []
        assert not [p for p in folders if p.exists()]  # their folders went with them
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_pool_size_zero_is_off(service_server: Server) -> None:
    with service_server.client() as http:
        stats = http.get("sandbox/api/v1/pool").json()
    assert (stats["size"], stats["idle"], stats["starting"], stats["hits"]) == (0, 0, 0, 0)
    json.dumps(stats)


def test_restart_after_sigkill_removes_the_old_pools_folders_only() -> None:
    """A killed server could not stop its pooled kernels: the next one removes their
    folders, never a sandbox's."""
    from .test_lifecycle import kill_server

    base = short_temp_dir()
    serve = contextlib.contextmanager(configured_server)
    service = base / "data" / "sandbox" / "service"
    try:
        with serve(base, pool_size=2) as first:
            with SandboxClient(first.url, first.token) as client:
                wait_for_stats(client, full)
                kept = client.create_sandbox()
                kept.exec("x = 1")
                wait_for_stats(client, full)
                folders = {p.name for p in service.iterdir() if len(p.name) == 32}
                assert kept.id in folders and len(folders) == 3
                kill_server(first)
        with serve(base, pool_size=2) as second:
            with SandboxClient(second.url, second.token) as client:
                assert [s.id for s in client.list_sandboxes()] == [kept.id]
                now = {p.name for p in service.iterdir() if len(p.name) == 32}
                assert now & folders == {kept.id}  # the old pool's folders are gone
    finally:
        shutil.rmtree(base, ignore_errors=True)
