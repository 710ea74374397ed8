"""Network clients in a real sandbox against a local HTTP server on 127.0.0.1 that each test
allows explicitly (issue 16): urllib.request, http.client, requests (installed with %pip from
a local wheel folder), pandas.read_csv, raw sockets with select/selectors/poll; the same URLs
refused with the default policy and with a deny rule; the audit lists every attempt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.network.policy import NetworkPolicy
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import execute_cell as run
from tests.conftest import execute_ok as ok
from tests.network_servers import CSV, HttpServer, wheel_folder


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


@pytest.fixture(scope="module")
def notebook_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notebook")
    wheel_folder(folder / "wheels")
    return folder


@pytest.fixture(scope="module")
def box(notebook_folder, tmp_path_factory) -> Iterator[Sandbox]:
    config = SandboxConfig(host_folder=notebook_folder,
                           state_dir=tmp_path_factory.mktemp("state"))
    with Sandbox(config) as sandbox:
        yield sandbox


def allow(server: HttpServer, **kw) -> NetworkPolicy:
    return NetworkPolicy(enabled=True, allow=(f"127.0.0.1:{server.port}",), **kw)


def test_urllib_http_client_and_pandas_read_an_allowed_server(box, server):
    box.set_network_policy(allow(server))
    out = ok(box, f"""
import urllib.request, http.client, pandas
with urllib.request.urlopen({server.url('/data.csv')!r}, timeout=30) as r:
    print(r.status, r.read())
c = http.client.HTTPConnection('127.0.0.1', {server.port}, timeout=30)
c.request('POST', '/echo', body=b'ping' * 1000)
resp = c.getresponse()
print(resp.status, len(resp.read()))
c.close()
df = pandas.read_csv({server.url('/data.csv')!r})
print(df['value'].sum(), list(df['name']))
""")
    assert f"200 {CSV!r}" in out
    assert "200 4000" in out
    assert "6 ['alpha', 'beta', 'gamma']" in out


def test_requests_from_a_local_wheel_folder(box, server):
    box.set_network_policy(allow(server))
    out = ok(box, "%pip install --no-index -f /workspace/wheels requests")
    assert "Successfully installed" in out and "requests" in out
    out = ok(box, f"""
import requests
r = requests.get({server.url('/data.csv')!r}, timeout=30)
print(r.status_code, r.headers['Content-Type'], r.text.splitlines()[1])
with requests.Session() as s:  # keep-alive: urllib3 checks the pooled socket with poll()
    print([s.get({server.url('/n')!r}).text for n in range(3)])
print(requests.post({server.url('/echo')!r}, data=b'abc').content)
""")
    assert "200 text/csv alpha,1" in out
    assert "['hello from /n', 'hello from /n', 'hello from /n']" in out
    assert "b'abc'" in out


def test_sockets_select_selectors_poll_timeouts_and_nonblocking(box, server):
    box.set_network_policy(allow(server))
    out = ok(box, f"""
import socket, select, selectors
s = socket.create_connection(('127.0.0.1', {server.port}), timeout=30)
print('peer', s.getpeername(), s.gettimeout(), s.fileno() > 1000)
s.setblocking(False)
try:
    s.recv(10)
except BlockingIOError:
    print('nothing yet')
print('select before', select.select([s], [], [], 0)[0] == [])
s.sendall(b'GET /sel HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')
with selectors.DefaultSelector() as sel:
    sel.register(s, selectors.EVENT_READ)
    print('selector', [k.fileobj is s for k, ev in sel.select(timeout=30)])
p = select.poll()
p.register(s, select.POLLIN)
print('poll', p.poll(30000) == [(s.fileno(), select.POLLIN)])
s.setblocking(True)
f = s.makefile('rb')
print('status', f.readline())
s.close()
f.close()
print('closed fileno', s.fileno())
t = socket.create_connection(('127.0.0.1', {server.port}))
t.settimeout(0.2)
try:
    t.recv(1)
except TimeoutError as e:
    print('timeout', e)
t.close()
""")
    assert f"peer ('127.0.0.1', {server.port}) 30.0 True" in out
    assert "nothing yet" in out and "select before True" in out
    assert "selector [True]" in out and "poll True" in out
    assert "status b'HTTP/1.1 200 OK\\r\\n'" in out
    assert "closed fileno -1" in out
    assert "timeout timed out" in out


def test_refused_with_the_default_policy(box, server):
    box.set_network_policy(NetworkPolicy())  # the default: off
    reply, out = run(box, f"""
import socket, urllib.request
try:
    socket.socket()
except PermissionError as e:
    print('socket:', e)
urllib.request.urlopen({server.url('/off')!r})
""")
    assert "socket: network access is off in this sandbox" in out
    assert "SandboxKernel.network = True" in out
    assert reply.ename == "URLError" and "network access is off" in reply.evalue
    assert server.hits["/off"] == 0
    assert "ENOTSUP" not in out and "Not supported" not in out


def test_refused_with_a_deny_rule(box, server):
    rule = f"127.0.0.1:{server.port}"
    box.set_network_policy(NetworkPolicy(enabled=True, allow=(rule,), deny=(rule,)))
    reply, out = run(box, f"""
import urllib.request, http.client
try:
    http.client.HTTPConnection('127.0.0.1', {server.port}).request('GET', '/denied')
except PermissionError as e:
    print('http.client:', e)
import pandas
pandas.read_csv({server.url('/denied.csv')!r})
""")
    assert f"deny rule '{rule}'" in out
    assert reply.ename == "URLError" and f"deny rule '{rule}'" in reply.evalue
    assert server.hits["/denied"] == 0 and server.hits["/denied.csv"] == 0


def test_policy_change_applies_to_the_next_connection(box, server):
    box.set_network_policy(allow(server))
    ok(box, f"import socket\nkept = socket.create_connection(('127.0.0.1', {server.port}))")
    box.set_network_policy(NetworkPolicy())
    out = ok(box, f"""
kept.sendall(b'GET /kept HTTP/1.0\\r\\n\\r\\n')
print(kept.recv(12))
kept.close()
try:
    socket.create_connection(('127.0.0.1', {server.port}))
except PermissionError as e:
    print('refused:', e)
""")
    assert "b'HTTP/1.1 200'" in out
    assert "refused: network access is off" in out


def test_the_audit_lists_each_attempt(box, server):
    box.set_network_policy(allow(server))
    ok(box, f"""
import urllib.request
urllib.request.urlopen({server.url('/audited')!r}).read()
for url in ('http://10.0.0.1/', 'http://127.0.0.1:{server.port % 65535 + 1}/'):
    try:
        urllib.request.urlopen(url, timeout=5)
    except OSError:
        pass
""")
    network = box.status()["network"]
    assert network["policy"]["enabled"] is True
    records = network["connections"][-3:]
    allowed, private, other_port = records
    assert allowed["allowed"] is True and allowed["port"] == server.port
    assert allowed["address"] == "127.0.0.1" and allowed["tls"] is False
    assert allowed["bytes_sent"] > 0 and allowed["bytes_received"] > len("hello from /audited")
    assert allowed["ended_at"] is not None
    assert private["allowed"] is False and private["address"] == "10.0.0.1"
    assert "no allow rule" in private["reason"]
    assert other_port["allowed"] is False and other_port["port"] != server.port


def test_each_attempt_is_logged(box, server, caplog):
    box.set_network_policy(allow(server))
    with caplog.at_level("INFO", logger="jupyter_sandbox.network"):
        ok(box, f"""
import urllib.request
urllib.request.urlopen({server.url('/logged')!r}).read()
try:
    urllib.request.urlopen('http://10.9.8.7/')
except OSError:
    pass
""")
    lines = [r.getMessage() for r in caplog.records if r.name == "jupyter_sandbox.network"]
    assert any(f"connected to 127.0.0.1 (127.0.0.1) port {server.port}" in m for m in lines)
    assert any("closed connection to 127.0.0.1" in m and "received" in m for m in lines)
    assert any("refused 10.9.8.7 port 80: no allow rule" in m for m in lines)


def test_asyncio_streams_and_a_nonblocking_connect(box, server):
    """The guest's event loop waits through the patched selectors, so asyncio's streams
    work on brokered sockets; a non-blocking connect completes at once (never EINPROGRESS)."""
    box.set_network_policy(allow(server))
    out = ok(box, f"""
import asyncio, socket, select
async def fetch():
    reader, writer = await asyncio.open_connection('127.0.0.1', {server.port})
    writer.write(b'GET /aio HTTP/1.0\\r\\n\\r\\n')
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data
print((await fetch()).splitlines()[0])
u = socket.socket()
u.setblocking(False)
print('connect_ex', u.connect_ex(('127.0.0.1', {server.port})),
      select.select([], [u], [], 0)[1] == [u])
u.close()
""")
    assert "b'HTTP/1.1 200 OK'" in out
    assert "connect_ex 0 True" in out
    assert server.hits["/aio"] == 1


def test_requests_refused_with_the_default_policy_and_a_deny_rule(box, server):
    box.set_network_policy(allow(server))
    ok(box, "%pip install --no-index -f /workspace/wheels requests")
    rule = f"127.0.0.1:{server.port}"
    code = f"""
import requests
try:
    requests.get({server.url('/refused-requests')!r}, timeout=10)
except requests.ConnectionError as e:
    print('refused:', e)
"""
    box.set_network_policy(NetworkPolicy())
    off = ok(box, code)
    box.set_network_policy(NetworkPolicy(enabled=True, allow=(rule,), deny=(rule,)))
    denied = ok(box, code)
    assert "refused:" in off and "network access is off" in off
    assert "refused:" in denied and f"deny rule '{rule}'" in denied
    assert server.hits["/refused-requests"] == 0


def test_httpx_sync_client(box, server):
    """httpx imports ``ssl`` at once: this needs the guest's ssl shim (host TLS) to import."""
    box.set_network_policy(allow(server))
    ok(box, "%pip install --no-index -f /workspace/wheels httpx")
    out = ok(box, f"""
import httpx
with httpx.Client(timeout=30) as client:
    print(client.get({server.url('/hx')!r}).text, client.post({server.url('/echo')!r},
          content=b'xyz').content)
""")
    assert "hello from /hx b'xyz'" in out


def test_reads_of_any_size_return_every_byte_in_order(box, server):
    """recv, recv_into (straight from the host's answer into the caller's buffer), MSG_PEEK
    and a makefile reader, mixed over a 3 MB random body echoed back: the read-ahead (which
    grows while the stream keeps up) never loses, repeats or reorders a byte."""
    box.set_network_policy(allow(server))
    out = ok(box, f"""
import os, socket
body = os.urandom(3_000_001)
s = socket.create_connection(('127.0.0.1', {server.port}), timeout=30)
s.sendall(b'POST /echo HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n'
          b'Content-Length: %d\\r\\n\\r\\n' % len(body) + body)
peeked = s.recv(5, socket.MSG_PEEK)
view = memoryview(bytearray(5))
assert s.recv_into(view, 5, socket.MSG_PEEK) == 5 and view.tobytes() == peeked
got = bytearray(s.recv(5))
print('peek', peeked == bytes(got) == b'HTTP/')
buf = bytearray(70_001)
sizes = [1, 7, 4096, 65_536, 70_001, 300_000, 2_000_000]
turn = 0
while True:
    size = sizes[turn % len(sizes)]
    if turn % 3 == 0:
        count = s.recv_into(buf, min(size, len(buf)))
        chunk = bytes(buf[:count])
    elif turn % 3 == 1:
        chunk = s.recv(size)
    else:
        count = s.recv_into(memoryview(buf)[:min(size, len(buf))])
        chunk = bytes(buf[:count])
    turn += 1
    if not chunk:
        break
    got += chunk
s.close()
head, _, echoed = bytes(got).partition(b'\\r\\n\\r\\n')
print(head.split(b'\\r\\n')[0].decode(), len(echoed) == len(body), echoed == body)
with socket.create_connection(('127.0.0.1', {server.port}), timeout=30) as s2:
    s2.sendall(b'POST /echo HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n'
               b'Content-Length: %d\\r\\n\\r\\n' % len(body) + body)
    reader = s2.makefile('rb')
    status = reader.readline()
    while reader.readline() not in (b'\\r\\n', b''):
        pass
    parts = [reader.read(1), reader.read(65_536), reader.read1(10), reader.read()]
    reader.close()
print(status.split()[1].decode(), b''.join(parts) == body)
""")
    assert out == "peek True\nHTTP/1.1 200 OK True True\n200 True\n", out
