"""The network broker's bounds in a real sandbox (issue 16): a server that sends forever hits
the byte limit, one that never answers is cut by the socket timeout, an interrupt and the cell
deadline (and the sandbox runs the next cell), the connection limit, and connections that do
not survive a snapshot restore, a fork or the sandbox's close."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.network.policy import NetworkPolicy
from jupyter_sandbox.runtime.sandbox import ExecuteReply, Sandbox
from tests.conftest import execute_cell as run
from tests.network_servers import HttpServer, SilentServer
from tests.waiting import wait_for

MiB = 1 << 20


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as running:
        yield running


def policy(*ports: int, **kw) -> NetworkPolicy:
    return NetworkPolicy(enabled=True, allow=tuple(f"127.0.0.1:{p}" for p in ports), **kw)


def still_usable(sandbox: Sandbox) -> None:
    reply, out = run(sandbox, "print(40 + 2)")
    assert reply.status == "ok" and out == "42\n"


def test_a_server_that_sends_forever_hits_the_byte_limit(sandbox, server):
    sandbox.set_network_policy(policy(server.port, max_bytes_per_cell=3 * MiB,
                                      max_bytes_per_sandbox=5 * MiB))
    code = f"""
import urllib.request
r = urllib.request.urlopen({server.url('/forever')!r})
got = 0
try:
    while True:
        got += len(r.read(1 << 16))
finally:
    print('read', got)
"""
    reply, out = run(sandbox, code)
    assert reply.ename == "NetworkLimitError"
    assert "max_bytes_per_cell = 3145728" in reply.evalue
    assert "connection was closed" in reply.evalue
    assert 2 * MiB < int(out.split()[-1]) <= 3 * MiB
    assert sandbox.status()["network"]["open_connections"] == 0
    # The next cell has its own budget, until the sandbox's runs out.
    reply, out = run(sandbox, code)
    assert reply.ename == "NetworkLimitError" and "max_bytes_per_sandbox" in reply.evalue
    reply, _ = run(sandbox, f"urllib.request.urlopen({server.url('/small')!r})")
    assert reply.ename == "URLError" and "max_bytes_per_sandbox" in reply.evalue
    still_usable(sandbox)


def test_a_silent_server_is_cut_by_the_socket_timeout(sandbox, silent):
    sandbox.set_network_policy(policy(silent.port))
    reply, out = run(sandbox, f"""
import socket, urllib.request
s = socket.create_connection(('127.0.0.1', {silent.port}), timeout=0.3)
try:
    s.recv(1)
except TimeoutError as e:
    print('recv:', e)
try:
    urllib.request.urlopen('http://127.0.0.1:{silent.port}/', timeout=0.3)
except OSError as e:
    print('urlopen:', type(e).__name__)
""")
    assert reply.status == "ok", reply.evalue
    assert "recv: timed out" in out and "urlopen: TimeoutError" in out


def test_an_interrupt_ends_a_read_that_never_returns(sandbox, silent):
    sandbox.set_network_policy(policy(silent.port))
    result: list[ExecuteReply] = []
    cell = threading.Thread(target=lambda: result.append(sandbox.execute(
        f"import socket\ns = socket.create_connection(('127.0.0.1', {silent.port}))\n"
        "s.recv(1)")))
    cell.start()
    wait_for(lambda: silent.accepted, "the guest to connect")
    wait_for(lambda: sandbox.status()["network"]["open_connections"] == 1, "the connection")
    sandbox.interrupt()
    cell.join(timeout=60)
    assert not cell.is_alive()
    assert result[0].ename == "KeyboardInterrupt"
    still_usable(sandbox)
    reply, out = run(sandbox, "s.close(); print(s.fileno())")
    assert out == "-1\n"


def test_the_cell_deadline_ends_a_read_that_never_returns(tmp_path, silent):
    with Sandbox(SandboxConfig(limits=Limits(cell_timeout=2), state_dir=tmp_path)) as box:
        box.set_network_policy(policy(silent.port))
        reply, _ = run(box, f"import urllib.request\n"
                            f"urllib.request.urlopen('http://127.0.0.1:{silent.port}/')")
        assert reply.ename == "TimeoutError"
        assert "time limit" in reply.evalue
        assert not reply.restarted  # a soft stop: the interpreter and its variables stay
        still_usable(box)


def test_the_connection_limit(sandbox, server):
    sandbox.set_network_policy(policy(server.port, max_connections=2))
    reply, out = run(sandbox, f"""
import socket
a = socket.create_connection(('127.0.0.1', {server.port}))
b = socket.create_connection(('127.0.0.1', {server.port}))
try:
    socket.create_connection(('127.0.0.1', {server.port}))
except OSError as e:
    print(type(e).__name__, e)
a.close()
c = socket.create_connection(('127.0.0.1', {server.port}))
print('after close: ok')
""")
    assert reply.status == "ok", reply.evalue
    assert "NetworkLimitError this sandbox already has 2 open connections" in out
    assert "max_connections = 2" in out and "after close: ok" in out


def test_connections_do_not_survive_a_snapshot_restore(sandbox, server):
    sandbox.set_network_policy(policy(server.port))
    reply, _ = run(sandbox, f"import socket\nkept = socket.create_connection("
                            f"('127.0.0.1', {server.port}))")
    assert reply.status == "ok"
    data = sandbox.snapshot()
    sandbox.restore(data)
    assert sandbox.status()["network"]["open_connections"] == 0
    reply, out = run(sandbox, """
for use in (lambda: kept.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'), lambda: kept.recv(1)):
    try:
        use()
    except ConnectionResetError as e:
        print('reset:', e)
kept.close()
print('closed cleanly')
""")
    assert reply.status == "ok", reply.evalue
    assert out.count("reset: this connection is gone") == 2
    assert "closed cleanly" in out
    last = sandbox.status()["network"]["connections"][-1]
    assert "a snapshot was restored" in last["reason"] and last["ended_at"] is not None
    # A fork starts from the same memory: its copy of the socket names nothing there either.
    reply, _ = run(sandbox, f"again = socket.create_connection(('127.0.0.1', {server.port}))")
    (fork,) = sandbox.fork()
    with fork:
        fork.set_network_policy(policy(server.port))
        reply, _ = run(fork, "again.recv(1)")
        assert reply.ename == "ConnectionResetError"
    reply, out = run(sandbox, "again.sendall(b'GET /still HTTP/1.0\\r\\n\\r\\n')\n"
                              "print(again.recv(8))")
    assert out == "b'HTTP/1.1'\n"  # the original's connection is its own


def test_closing_the_sandbox_closes_its_connections(tmp_path, silent):
    box = Sandbox(SandboxConfig(state_dir=tmp_path))
    try:
        box.set_network_policy(policy(silent.port))
        reply, _ = run(box, f"import socket\ns = socket.create_connection("
                            f"('127.0.0.1', {silent.port}))")
        assert reply.status == "ok"
        wait_for(lambda: silent.accepted, "the connection")
    finally:
        box.close()
    peer = silent.accepted[0]
    peer.settimeout(10)
    assert peer.recv(1) == b""  # the host closed its end


class StuckResolver:
    """A name server that never answers (until the test lets it go)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def resolve(self, host: str, port: int) -> list:
        self.entered.set()
        self.release.wait(120)
        raise socket.gaierror(socket.EAI_NONAME, "released")


def test_a_name_server_that_never_answers_is_cut_by_interrupt_and_timeout(sandbox):
    stuck = StuckResolver()
    sandbox.network.resolver = stuck
    try:
        sandbox.set_network_policy(NetworkPolicy(enabled=True, allow=("slow.test:80",)))
        for code in ("import socket\nsocket.getaddrinfo('slow.test', 80)",
                     "import socket\nsocket.create_connection(('slow.test', 80))"):
            stuck.entered.clear()
            result: list[ExecuteReply] = []
            cell = threading.Thread(target=lambda c=code, r=result: r.append(sandbox.execute(c)))
            cell.start()
            wait_for(stuck.entered.is_set, "the lookup to start")
            sandbox.interrupt()
            cell.join(timeout=60)
            assert not cell.is_alive() and result[0].ename == "KeyboardInterrupt"
        sandbox.set_network_policy(NetworkPolicy(enabled=True, allow=("slow.test:80",),
                                                 connect_timeout=0.3))
        reply, _ = run(sandbox, "socket.getaddrinfo('slow.test', 80)")
        assert reply.ename == "gaierror" and "longer than" in reply.evalue
    finally:
        stuck.release.set()
    still_usable(sandbox)


def test_a_connect_loop_cannot_flood_the_log(sandbox, caplog):
    sandbox.set_network_policy(NetworkPolicy(enabled=True))
    with caplog.at_level("INFO", logger="jupyter_sandbox.network"):
        reply, out = run(sandbox, """
import socket
refused = 0
for _ in range(300):
    try:
        socket.create_connection(('10.0.0.1', 80))
    except PermissionError:
        refused += 1
print(refused)
""")
    assert out == "300\n"
    lines = [r for r in caplog.records if r.name == "jupyter_sandbox.network"]
    assert 10 <= len(lines) <= 60
    audit = sandbox.status()["network"]["connections"]
    assert len(audit) == 100 and all(not r["allowed"] for r in audit)
