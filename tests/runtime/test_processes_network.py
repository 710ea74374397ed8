"""Sockets in sandbox processes: a ``python`` child's network calls go to the sandbox's own
broker (runtime/processes/child_calls.py), so a child fetches from a local server the policy
allows, is refused (PermissionError naming the reason) when the policy does not, and every
attempt is in the sandbox's audit — the same network as the notebook's, not a wider one; over
https too, trusting the administrator's CA (the policy's ca_bundle) and nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.network.policy import NetworkPolicy
from jupyter_sandbox.runtime.network.resolver import StaticResolver
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text
from tests.network_servers import CSV, HttpServer, SilentServer
from tests.tls_servers import HOSTNAME, HttpsServer, TestCA

TIMEOUT = 120


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(state_dir=tmp_path_factory.mktemp("state"))) as sandbox:
        yield sandbox


def fetch_script(url: str) -> str:
    return ("import urllib.request\n"
            f"with urllib.request.urlopen({url!r}, timeout=30) as r:\n"
            "    print(r.status, r.read())\n")


def run_child(sandbox: Sandbox, code: str) -> tuple[int | None, str]:
    handle = sandbox.processes.start(["python", "-c", code])
    status = handle.wait(TIMEOUT)
    text = b"".join(chunk.data for chunk in handle.read_output(0)).decode()
    return status, text


def test_a_python_child_fetches_from_an_allowed_local_server(box, server):
    box.set_network_policy(NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{server.port}",)))
    status, text = run_child(box, fetch_script(server.url("/data.csv")))
    assert (status, text) == (0, f"200 {CSV!r}\n")
    records = box.status()["network"]["connections"]
    assert records[-1]["allowed"] is True and records[-1]["port"] == server.port
    assert records[-1]["bytes_received"] > len(CSV)


def test_the_notebooks_subprocess_child_has_the_same_network(box, server):
    box.set_network_policy(NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{server.port}",)))
    messages: list[dict] = []
    reply = box.execute("import subprocess, sys\n"
                        f"r = subprocess.run([sys.executable, '-c', "
                        f"{fetch_script(server.url('/data.csv'))!r}], capture_output=True)\n"
                        "print(r.returncode, r.stdout)", messages.append)
    assert reply.status == "ok", reply.traceback
    assert stream_text(messages) == f"0 {(f'200 {CSV!r}' + chr(10)).encode()!r}\n"


@pytest.mark.parametrize("policy, reason", [
    (NetworkPolicy(), "network access is off"),
    (NetworkPolicy(enabled=True), "loopback"),
])
def test_a_child_is_refused_what_the_policy_refuses(box, server, policy, reason):
    box.set_network_policy(policy)
    path = f"/child-refused-{policy.enabled}"
    status, text = run_child(box, "import urllib.request, urllib.error\n"
                                  "try:\n"
                                  f"    urllib.request.urlopen({server.url(path)!r}, timeout=30)\n"
                                  "except urllib.error.URLError as exc:\n"
                                  "    print('refused:', type(exc.reason).__name__, exc.reason)\n")
    assert status == 0 and text.startswith("refused: PermissionError") and reason in text, text
    assert server.hits[path] == 0
    if policy.enabled:
        record = box.status()["network"]["connections"][-1]
        assert record["allowed"] is False and reason in record["reason"]


def test_killing_a_child_blocked_in_recv_ends_it_and_closes_its_connection(box):
    with SilentServer() as silent:
        box.set_network_policy(NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{silent.port}",)))
        handle = box.processes.start(["python", "-c",
                                      "import socket\n"
                                      "s = socket.create_connection("
                                      f"('127.0.0.1', {silent.port}))\n"
                                      "print('connected', flush=True)\n"
                                      "s.recv(10)\n"])
        assert handle.read_output(0, timeout=TIMEOUT)[0].data == b"connected\n"
        handle.kill()
        assert handle.wait(TIMEOUT) == -9
        # closed as the process ends (its end callbacks run just after wait() is released)
        deadline = time.monotonic() + TIMEOUT
        while box.status()["network"]["open_connections"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert box.status()["network"]["open_connections"] == 0


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def https_server(ca) -> Iterator[HttpsServer]:
    with HttpsServer(ca.server_context(HOSTNAME, "127.0.0.1")) as running:
        yield running


def https_policy(server: HttpsServer, ca: TestCA | None) -> NetworkPolicy:
    return NetworkPolicy(enabled=True, allow=(f"{HOSTNAME}:{server.port}",
                                              f"127.0.0.1:{server.port}"),
                         ca_bundle=str(ca.pem) if ca else None)


def test_a_python_child_fetches_https_with_the_administrators_ca(box, ca, https_server):
    """The child's `ssl` is the shim (installed in the base image children start from) and
    its `tls` call goes to the sandbox's broker, which trusts the policy's ca_bundle."""
    box.network.resolver = StaticResolver({HOSTNAME: ["127.0.0.1"]})
    box.set_network_policy(https_policy(https_server, ca))
    status, text = run_child(box, "import ssl, sys\n"
                                  "print(ssl.__file__.endswith('ssl_shim.py'))\n"
                                  + fetch_script(https_server.url("/data.csv")))
    assert (status, text) == (0, f"True\n200 {CSV!r}\n")
    record = box.status()["network"]["connections"][-1]
    assert record["tls"] is True and record["tls_peer"] == HOSTNAME
    assert record["allowed"] is True and record["port"] == https_server.port


def test_a_python_child_refuses_a_certificate_without_the_administrators_ca(
        box, ca, https_server):
    box.network.resolver = StaticResolver({HOSTNAME: ["127.0.0.1"]})
    box.set_network_policy(https_policy(https_server, None))
    path = "/child-untrusted"
    status, text = run_child(box, "import urllib.request, urllib.error\n"
                                  "try:\n"
                                  f"    urllib.request.urlopen({https_server.url(path)!r}, "
                                  "timeout=30)\n"
                                  "except urllib.error.URLError as exc:\n"
                                  "    print('refused:', type(exc.reason).__name__)\n")
    assert (status, text) == (0, "refused: SSLCertVerificationError\n")
    assert https_server.hits[path] == 0
