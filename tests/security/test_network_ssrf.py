"""Issue 16, bad input: the guest cannot reach internal addresses through the network broker.

With the network on and no explicit allow, loopback, private, link-local and metadata
addresses are refused whatever form they take; a name that resolves to one is refused (a test
resolver, and ``localhost``); the broker connects to exactly the address it checked, so a
resolver that changes its answer (DNS rebinding) gets no second chance; a redirect from an
allowed server to another local port is refused; forged and malformed network calls from
guest code fail cleanly and reach nothing. Every test checks the server was not reached."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from jupyter_sandbox.runtime.errors import NetworkRefusedError
from jupyter_sandbox.runtime.network.broker import NetworkBroker
from jupyter_sandbox.runtime.network.policy import NetworkPolicy
from jupyter_sandbox.runtime.network.resolver import ResolvedAddress, StaticResolver
from jupyter_sandbox.runtime.sandbox import ExecuteReply, Sandbox
from tests.conftest import stream_text
from tests.network_servers import HttpServer

ON = NetworkPolicy(enabled=True)  # the network on, no allow list: "the internet" only


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


@pytest.fixture(scope="module")
def other() -> Iterator[HttpServer]:
    """An internal service on another local port that no policy here allows."""
    with HttpServer() as running:
        yield running


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def run(sandbox: Sandbox, code: str) -> tuple[ExecuteReply, str]:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    assert reply.status == "ok", (reply.ename, reply.evalue)
    return reply, stream_text(messages)


ATTEMPT = """
import socket, urllib.request
def attempt(host, port):
    for how in ('socket', 'urllib', 'getaddrinfo'):
        try:
            if how == 'socket':
                socket.create_connection((host, port), timeout=5)
            elif how == 'urllib':
                h = f'[{host}]' if ':' in host else host
                urllib.request.urlopen(f'http://{h}:{port}/reached', timeout=5)
            else:  # resolve, then connect to the number (as urllib3 does)
                info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                socket.create_connection(info[0][4][:2], timeout=5)
            print(how, 'CONNECTED')
        except PermissionError as e:
            print(how, 'refused:', e)
        except OSError as e:
            reason = getattr(e, 'reason', e)
            print(how, 'refused:' if isinstance(reason, PermissionError) else 'error:', reason)
"""


@pytest.mark.parametrize("host, kind", [
    ("127.0.0.1", "loopback"), ("10.0.0.1", "private"), ("::1", "loopback"),
    ("169.254.169.254", "cloud metadata"), ("0x7f.1", "loopback"), ("2130706433", "loopback"),
    ("::ffff:127.0.0.1", "loopback"), ("localhost", "loopback")])
def test_internal_addresses_are_refused_with_the_network_on(box, server, host, kind):
    box.set_network_policy(ON)
    port = server.port
    _, out = run(box, ATTEMPT + f"attempt({host!r}, {port})")
    lines = out.strip().splitlines()
    assert len(lines) == 3 and all(" refused: " in line for line in lines), out
    assert f"{kind} address" in out and "refused unless an allow rule names it" in out
    assert "CONNECTED" not in out
    assert server.hits["/reached"] == 0


def test_a_name_that_resolves_to_a_private_address_is_refused(box, server):
    box.network.resolver = StaticResolver({"internal.test": ["10.1.2.3"],
                                           "loop.test": ["127.0.0.1"],
                                           "metadata.test": ["169.254.169.254"]})
    try:
        # Even an allow rule for the name does not allow what it resolves to.
        box.set_network_policy(NetworkPolicy(enabled=True, allow=(
            "internal.test", "loop.test", f"metadata.test:{server.port}")))
        _, out = run(box, ATTEMPT + "".join(
            f"attempt({name!r}, {server.port})\n"
            for name in ("internal.test", "loop.test", "metadata.test")))
    finally:
        box.network.resolver = box.network.__class__(ON).resolver
    assert out.count(" refused: ") == 9, out
    assert "10.1.2.3 is a private address" in out
    assert "127.0.0.1 is a loopback address" in out and "a host name does not count" in out
    assert "169.254.169.254 is a cloud metadata address" in out
    assert server.hits["/reached"] == 0
    refused = [r for r in box.status()["network"]["connections"] if r["host"] == "loop.test"]
    assert refused and all(not r["allowed"] and r["address"] == "127.0.0.1" for r in refused)


class RebindingResolver:
    """Answers the allowed address once, then an internal one (a DNS rebinding attack)."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [first, then]
        self.calls = 0

    def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        answer = self.answers[min(self.calls, 1)]
        self.calls += 1
        return [ResolvedAddress(socket.AF_INET, answer)]


def test_dns_rebinding_gets_no_second_resolution(box, server, other):
    rebinding = RebindingResolver("127.0.0.1", "10.0.0.1")
    box.network.resolver = rebinding
    try:
        box.set_network_policy(NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{server.port}",)))
        _, out = run(box, f"""
import socket
address = socket.getaddrinfo('rebind.test', {server.port})[0][4]
s = socket.create_connection(address)
s.sendall(b'GET /rebound HTTP/1.0\\r\\n\\r\\n')
print('first', address, s.recv(12))
s.close()
try:
    socket.create_connection(('rebind.test', {server.port}))
except PermissionError as e:
    print('second refused:', e)
""")
    finally:
        box.network.resolver = box.network.__class__(ON).resolver
    assert f"first ('127.0.0.1', {server.port}) b'HTTP/1.1 200'" in out
    assert rebinding.calls == 2  # getaddrinfo, then the connect by name; never in between
    assert "second refused:" in out and "10.0.0.1" in out
    assert server.hits["/rebound"] == 1


def test_a_redirect_to_another_local_port_is_refused(box, server, other):
    box.set_network_policy(NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{server.port}",)))
    target = other.url("/secret")
    _, out = run(box, f"""
import urllib.request, http.client
try:
    urllib.request.urlopen({server.url('/redirect?to=' + target)!r}, timeout=10)
except OSError as e:
    print('redirect:', type(e).__name__, e)
c = http.client.HTTPConnection('127.0.0.1', {server.port})
c.request('GET', '/redirect?to=' + {target!r})
print('first hop', c.getresponse().status)
""")
    assert "redirect: URLError" in out and f"127.0.0.1:{other.port}" in out
    assert "no allow rule matches" in out
    assert "first hop 302" in out
    assert server.hits["/redirect"] == 2
    assert other.hits["/secret"] == 0


def test_forged_and_malformed_network_calls_fail_cleanly(box, server, caplog):
    box.set_network_policy(NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{server.port}",)))
    calls = [b'N{"call":"recv","conn":12345,"size":10,"timeout":0}\n',
             b"N\xff\xfe not json",
             b'N[1, 2]\n',
             b'N{"call":"recv","conn":true,"size":10}\n',
             b'N{"call":"recv","conn":1,"size":-5}\n',
             b'N{"call":"connect","host":"' + b"a" * 5000 + b'","port":80,"timeout":1}\n',
             b'N{"call":"connect","host":"127.0.0.1","port":true,"timeout":1}\n',
             b'N{"call":"connect","host":"127.0.0.1","port":70000,"timeout":1}\n',
             b'N{"call":"connect","host":"127.0.0.1","port":80,"timeout":NaN}\n',
             b'N{"call":"poll","read":[' + b"1," * 9999 + b'1],"write":[],"timeout":0}\n',
             b'N{"call":"shutdown","conn":1,"how":99}\n',
             b'N{"call":"explode"}\n',
             b'N' + b"x" * 100000]
    _, out = run(box, f"""
import _host, json
for raw in {calls!r}:
    answer = json.loads(_host.call(raw))
    print(answer['kind'], answer['error'][:60])
""")
    kinds = [line.split()[0] for line in out.splitlines()]
    assert kinds == ["lost", "value", "value", "value", "value", "value", "value", "value",
                     "value", "value", "value", "value", "value"], out
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    _, out = run(box, "print(6 * 7)")
    assert out == "42\n"


def test_another_sandboxs_connection_ids_name_nothing(box, server, tmp_path):
    policy = NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{server.port}",))
    box.set_network_policy(policy)
    _, out = run(box, f"import socket\nmine = socket.create_connection(('127.0.0.1', "
                      f"{server.port}))\nprint(mine.connection_id)")
    conn_id = int(out)
    with Sandbox() as intruder:
        intruder.set_network_policy(policy)
        _, out = run(intruder, "import _host, json\nprint(json.loads(_host.call("
                               f"b'N{{\"call\":\"recv\",\"conn\":{conn_id},\"size\":10,"
                               "\"timeout\":0}\\n'))['kind'])")
        assert out == "lost\n"
    run(box, "mine.close()")


def test_an_address_resolved_for_an_allowed_name_is_checked_as_that_name():
    """Broker level, no connection made: the guest resolves an allowed name and connects to
    the number it got; the broker knows where the number came from. A public address it never
    resolved is refused: the allow rule names a host, not every address."""
    broker = NetworkBroker(NetworkPolicy(enabled=True, allow=("public.test:80",)),
                           resolver=StaticResolver({"public.test": ["93.184.216.34"]}))
    addresses = broker.resolve("public.test", 80)
    assert [a.address for a in addresses] == ["93.184.216.34"]
    (name, address, decision), = broker._targets(broker.policy, "93.184.216.34", 80)
    assert (name, address.address, decision.allowed) == ("public.test", "93.184.216.34", True)
    with pytest.raises(NetworkRefusedError, match="no allow rule matches"):
        broker._targets(broker.policy, "93.184.216.35", 80)
    with pytest.raises(NetworkRefusedError, match="no allow rule matches"):
        broker._targets(broker.policy, "93.184.216.34", 443)
    assert threading.active_count() >= 1
