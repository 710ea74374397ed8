"""The sandbox service's network routes end to end, through a real ``jupyter server``: a
``network`` object at create, ``GET``/``PUT /sandboxes/{id}/network``, changes that take effect
for the next connection of a running sandbox, bad bodies as 400 envelopes, widening refused
(403), auth required. The only server the sandboxes reach is one on 127.0.0.1 started here and
allowed by port in the administrator's kernel configuration."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from jupyter_sandbox.client import SandboxClient, SandboxServiceError
from tests.network_servers import HttpServer
from tests.server.conftest import Server

from .conftest import temporary_server

API = "sandbox/api/v1/"
ENVELOPE = {"message", "reason", "code", "hint"}


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    with HttpServer() as server:  # "/" answers "hello from /"
        yield server.port


@pytest.fixture(scope="module")
def network_server(http_port: int) -> Iterator[Server]:
    """A service server whose kernels have the network on, allowing only the test's HTTP server
    (by address and port: a name rule would not allow loopback) and *.example.com names."""
    yield from temporary_server({
        "SandboxKernel": {"network": True,
                          "network_allow": [f"127.0.0.1:{http_port}", "*.example.com"],
                          "network_deny": ["secret.example.com"],
                          "network_max_connections": 8}})


@pytest.fixture
def client(network_server: Server) -> Iterator[SandboxClient]:
    with SandboxClient(network_server.url, network_server.token) as sandbox_client:
        yield sandbox_client


def _fetch(port: int) -> str:
    """A cell that fetches the test server and prints the body, or the refusal."""
    return ("import urllib.request, urllib.error\n"
            "try:\n"
            f"    print(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=30)"
            ".read().decode())\n"
            "except urllib.error.URLError as e:\n"
            "    print(type(e.reason).__name__, e.reason)\n")


def test_create_get_put_and_the_next_connection_follows(client: SandboxClient,
                                                        http_port: int) -> None:
    asked = {"allow": [f"127.0.0.1:{http_port}", "api.example.com"], "deny": ["x.example.com"],
             "max_connections": 4}
    with client.create(network=asked) as sandbox:
        assert sandbox.info["network"] == asked
        network = sandbox.network()
        policy, admin = network["policy"], network["administrator"]
        assert policy["enabled"] and policy["allow"] == asked["allow"]
        assert policy["deny"] == ["x.example.com"] and policy["max_connections"] == 4
        assert admin["allow"] == [f"127.0.0.1:{http_port}", "*.example.com"]
        assert admin["deny"] == ["secret.example.com"] and admin["max_connections"] == 8

        assert sandbox.exec(_fetch(http_port)).stdout == "hello from /\n"
        last = sandbox.network()["connections"][-1]
        assert (last["host"], last["address"], last["port"], last["allowed"]) == (
            "127.0.0.1", "127.0.0.1", http_port, True)
        assert last["bytes_received"] > len("hello from /")
        assert f"127.0.0.1:{http_port}" in last["reason"]

        # the running sandbox: a deny rule from the API applies to the next connection
        changed = sandbox.update_network(deny=["127.0.0.1"])
        assert changed["policy"]["deny"] == ["127.0.0.1"]
        refused = sandbox.exec(_fetch(http_port)).stdout
        assert refused.startswith("PermissionError") and "deny rule '127.0.0.1'" in refused
        last = sandbox.network()["connections"][-1]
        assert last["allowed"] is False and "deny rule '127.0.0.1'" in last["reason"]
        assert last["bytes_sent"] == 0

        # turned off through the API, then on again (within the administrator's policy)
        sandbox.update_network(enabled=False)
        off = sandbox.exec(_fetch(http_port)).stdout
        assert off.startswith("PermissionError") and "network" in off
        sandbox.update_network(enabled=True)
        assert sandbox.exec(_fetch(http_port)).stdout == "hello from /\n"
        assert sandbox.refresh()["network"] == {"enabled": True}  # kept for resumes


def test_what_get_answers_can_be_put_back(client: SandboxClient,
                                          network_server: Server) -> None:
    with client.create() as sandbox, network_server.client() as http:
        assert sandbox.info["network"] is None
        current = sandbox.network()["policy"]
        answer = http.put(API + f"sandboxes/{sandbox.id}/network", json=current)
        assert answer.status_code == 200, answer.text
        assert answer.json()["policy"]["allow"] == current["allow"]


@pytest.mark.parametrize("network, status, code", [
    ({"allow": ["http://example.com/"]}, 400, "bad_network_policy"),
    ({"allow": "api.example.com"}, 400, "bad_network_policy"),
    ({"deny": ["10.0.0.1/8"]}, 400, "bad_network_policy"),
    ({"allow": [1]}, 400, "bad_network_policy"),
    ({"bogus": True}, 400, "bad_network_policy"),
    ({"max_connections": 0}, 400, "bad_network_policy"),
    ([], 400, "bad_network_policy"),
    ({"max_connections": 1000}, 403, "network_not_permitted"),
    ({"ca_bundle": "/etc/passwd"}, 403, "network_not_permitted"),
    ({"inject_headers": [{"host": "a.example.com", "header": "X", "value": "v"}]}, 403,
     "network_not_permitted"),
])
def test_bad_network_bodies_are_envelopes_and_leave_nothing(
        network_server: Server, network: object, status: int, code: str) -> None:
    with network_server.client() as http:
        before = len(http.get(API + "sandboxes").json()["sandboxes"])
        response = http.post(API + "sandboxes", json={"network": network})
        assert response.status_code == status, response.text
        assert set(response.json()) == ENVELOPE and response.json()["code"] == code
        assert "Traceback" not in response.text
        assert len(http.get(API + "sandboxes").json()["sandboxes"]) == before  # deleted again


def test_bad_puts_change_nothing(client: SandboxClient, network_server: Server) -> None:
    with client.create(network={"deny": ["a.example.com"]}) as sandbox, \
            network_server.client() as http:
        url = API + f"sandboxes/{sandbox.id}/network"
        for body, status, code in (
                (b"{", 400, "bad_request"), (b'{"allow": ["a b"]}', 400, "bad_network_policy"),
                (b'{"deny": ["[::1"]}', 400, "bad_network_policy"),
                (b'{"max_bytes_per_sandbox": 99999999999999}', 403, "network_not_permitted")):
            response = http.put(url, content=body)
            assert response.status_code == status, (body, response.text)
            assert set(response.json()) == ENVELOPE and response.json()["code"] == code
        with pytest.raises(SandboxServiceError) as refused:
            sandbox.update_network(max_connections=9)
        assert refused.value.status == 403 and "may only lower" in str(refused.value)
        assert sandbox.network()["policy"]["deny"] == ["a.example.com"]
        assert sandbox.refresh()["network"] == {"deny": ["a.example.com"]}


def test_network_routes_require_auth(network_server: Server, client: SandboxClient) -> None:
    with client.create() as sandbox, httpx.Client(base_url=network_server.url + API,
                                                  timeout=60) as anonymous:
        url = f"sandboxes/{sandbox.id}/network"
        for response in (anonymous.get(url), anonymous.put(url, json={"enabled": False}),
                         anonymous.post("sandboxes", json={"network": {"enabled": True}})):
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "forbidden"
        assert sandbox.network()["policy"]["enabled"] is True  # the anonymous PUT changed nothing


def test_the_api_cannot_turn_on_a_network_the_administrator_left_off(
        service_server: Server) -> None:
    """The default service server: no network configuration for its kernels (off)."""
    with SandboxClient(service_server.url, service_server.token) as client, \
            service_server.client() as http:
        before = len(http.get(API + "sandboxes").json()["sandboxes"])
        with pytest.raises(SandboxServiceError) as refused:
            client.create(network={"enabled": True, "allow": ["127.0.0.1"]})
        assert refused.value.status == 403 and "SandboxKernel.network = True" in str(refused.value)
        assert len(http.get(API + "sandboxes").json()["sandboxes"]) == before
        with client.create() as sandbox:
            network = sandbox.network()
            assert network["policy"]["enabled"] is False and network["connections"] == []
            with pytest.raises(SandboxServiceError, match="cannot turn it on"):
                sandbox.update_network(enabled=True)
            assert sandbox.update_network(enabled=False)["policy"]["enabled"] is False


@pytest.fixture(scope="module")
def idle_network_server(http_port: int) -> Iterator[Server]:
    """As ``network_server``, but sandboxes stop after 1 s without use (resumed on next use)."""
    yield from temporary_server(
        {"SandboxKernel": {"network": True, "network_allow": [f"127.0.0.1:{http_port}"]}},
        idle_timeout=1.0)


def test_the_api_policy_survives_a_stop_and_resume(idle_network_server: Server,
                                                   http_port: int) -> None:
    """The record keeps the policy asked for: the kernel a stopped sandbox resumes in gets it
    again, so a resume never widens what the API narrowed."""
    with SandboxClient(idle_network_server.url, idle_network_server.token) as client, \
            client.create(network={"deny": ["127.0.0.1"]}) as sandbox:
        first_kernel = sandbox.kernel_id
        deadline = time.monotonic() + 240
        while sandbox.refresh()["state"] != "stopped":
            assert time.monotonic() < deadline, "the idle sandbox was never stopped"
            time.sleep(0.2)
        refused = sandbox.exec(_fetch(http_port)).stdout   # resumes it in a new kernel
        assert sandbox.refresh()["kernel_id"] != first_kernel
        assert refused.startswith("PermissionError") and "deny rule '127.0.0.1'" in refused
        assert sandbox.network()["policy"]["deny"] == ["127.0.0.1"]
