"""TLS done by the host (issue 16 item 2) in a real sandbox, against a local HTTPS server on
127.0.0.1 whose certificate comes from a test CA (``trustme``) that the policy's ``ca_bundle``
names: urllib.request, http.client, requests (from a local wheel folder) and pandas.read_csv
work over https; without the CA every one of them fails with the certificate error; the audit
marks the connection TLS with the verified name; a TLS connection open at a snapshot gives a
clean error after the restore."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.network.policy import NetworkPolicy
from jupyter_sandbox.runtime.network.resolver import StaticResolver
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import execute_ok as ok
from tests.network_servers import CSV, wheel_folder
from tests.tls_servers import HOSTNAME, HttpsServer, TestCA


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def server(ca) -> Iterator[HttpsServer]:
    with HttpsServer(ca.server_context(HOSTNAME, "127.0.0.1")) as running:
        yield running


@pytest.fixture(scope="module")
def notebook_folder(tmp_path_factory, ca) -> Path:
    folder = tmp_path_factory.mktemp("notebook")
    wheel_folder(folder / "wheels")  # requests, httpx and their dependencies
    (folder / "test-ca.pem").write_bytes(ca.pem.read_bytes())  # the CA, inside the sandbox
    return folder


@pytest.fixture(scope="module")
def box(notebook_folder, tmp_path_factory) -> Iterator[Sandbox]:
    config = SandboxConfig(host_folder=notebook_folder,
                           state_dir=tmp_path_factory.mktemp("state"))
    with Sandbox(config) as sandbox:
        sandbox.network.resolver = StaticResolver({HOSTNAME: ["127.0.0.1"]})
        yield sandbox


@pytest.fixture(scope="module")
def with_requests(box) -> Sandbox:
    """The box with requests installed from the local wheel folder (%pip, no index)."""
    out = ok(box, "%pip install --no-index -f /workspace/wheels requests")
    assert "requests" in out
    return box


def allow(server: HttpsServer, ca: TestCA | None, **kw) -> NetworkPolicy:
    return NetworkPolicy(enabled=True, allow=(f"{HOSTNAME}:{server.port}",
                                              f"127.0.0.1:{server.port}"),
                         ca_bundle=str(ca.pem) if ca else None, **kw)


def test_ssl_is_the_shim_with_what_urllib3_checks(box):
    out = ok(box, """
import ssl, http.client, urllib.request
print(ssl.OPENSSL_VERSION.startswith('OpenSSL '), ssl.OPENSSL_VERSION_INFO >= (1, 1, 1))
print(ssl.HAS_SNI, ssl.HAS_NEVER_CHECK_COMMON_NAME, ssl.CERT_REQUIRED == 2)
ctx = ssl.create_default_context()
print(ctx.verify_mode == ssl.CERT_REQUIRED, ctx.check_hostname, ctx.minimum_version.name)
print(hasattr(http.client, 'HTTPSConnection'), hasattr(urllib.request, 'HTTPSHandler'))
try:
    ctx.load_cert_chain('/nonexistent.pem')
except ssl.SSLError as e:
    print('no client keys:', 'holds no keys' in str(e))
""")
    assert out.splitlines() == ["True True", "True True True", "True True TLSv1_2",
                                "True True", "no client keys: True"]


def test_urllib_http_client_and_pandas_over_https_with_the_administrators_ca(box, server, ca):
    box.set_network_policy(allow(server, ca))
    out = ok(box, f"""
import urllib.request, http.client, pandas, ssl
with urllib.request.urlopen({server.url('/data.csv')!r}, timeout=30) as r:
    print(r.status, r.read())
c = http.client.HTTPSConnection({HOSTNAME!r}, {server.port}, timeout=30)
c.request('POST', '/echo', body=b'ping' * 1000)
resp = c.getresponse()
print(resp.status, len(resp.read()), c.sock.version() in ('TLSv1.2', 'TLSv1.3'))
print(dict(c.sock.getpeercert()['subjectAltName']))
print(isinstance(c.sock, ssl.SSLSocket), c.sock.cipher()[1].startswith('TLS'))
c.close()
df = pandas.read_csv({server.url('/data.csv')!r})
print(df['value'].sum(), list(df['name']))
with urllib.request.urlopen({server.url('/by-address', host='127.0.0.1')!r}, timeout=30) as r:
    print(r.read())  # the certificate names the address too
""")
    assert f"200 {CSV!r}" in out
    assert "200 4000 True" in out
    assert "{'DNS': 'secure.test', 'IP Address': '127.0.0.1'}" in out
    assert "True True" in out
    assert "6 ['alpha', 'beta', 'gamma']" in out
    assert "b'hello from /by-address'" in out
    records = [r for r in box.status()["network"]["connections"] if r["port"] == server.port]
    assert records and all(r["tls"] for r in records if r["allowed"])
    assert {r["tls_peer"] for r in records} == {HOSTNAME, "127.0.0.1"}


def test_requests_over_https_from_a_local_wheel_folder(with_requests, server, ca):
    box = with_requests
    box.set_network_policy(allow(server, ca))
    out = ok(box, f"""
import requests
r = requests.get({server.url('/data.csv')!r}, timeout=30)  # verify=True: certifi's bundle
print(r.status_code, r.text.splitlines()[1])
with requests.Session() as s:  # keep-alive over one TLS connection
    print([s.get({server.url('/n')!r}, timeout=30).text for n in range(3)])
print(requests.post({server.url('/echo')!r}, data=b'abc', timeout=30).content)
""")
    assert "200 alpha,1" in out
    assert "['hello from /n', 'hello from /n', 'hello from /n']" in out
    assert "b'abc'" in out


def test_httpx_sync_over_https(with_requests, server, ca):
    box = with_requests
    box.set_network_policy(allow(server, ca))
    out = ok(box, "%pip install --no-index -f /workspace/wheels httpx")
    assert "httpx" in out
    out = ok(box, f"""
import httpx
r = httpx.get({server.url('/data.csv')!r}, timeout=30)
print(r.status_code, r.http_version, r.text.splitlines()[1])
with httpx.Client(timeout=30) as client:
    print([client.get({server.url('/x')!r}).text for _ in range(2)])
print(httpx.post({server.url('/echo')!r}, content=b'xyz', timeout=30).content)
""")
    assert "200 HTTP/1.1 alpha,1" in out
    assert "['hello from /x', 'hello from /x']" in out
    assert "b'xyz'" in out


def test_without_the_ca_every_client_gets_the_certificate_error(with_requests, server):
    box = with_requests
    box.set_network_policy(allow(server, None))  # the host's trust store only
    before = len(server.seen)
    out = ok(box, f"""
import ssl, socket, urllib.request, urllib.error, http.client, pandas, requests
try:
    urllib.request.urlopen({server.url('/u')!r}, timeout=30)
except urllib.error.URLError as e:
    print('urllib', type(e.reason).__name__)
c = http.client.HTTPSConnection({HOSTNAME!r}, {server.port}, timeout=30)
try:
    c.request('GET', '/h')
except ssl.SSLCertVerificationError as e:
    print('http.client', e.verify_message, '|', e.reason, isinstance(e, ValueError))
try:
    pandas.read_csv({server.url('/data.csv')!r})
except urllib.error.URLError as e:
    print('pandas', type(e.reason).__name__)
try:
    requests.get({server.url('/r')!r}, timeout=30)
except requests.exceptions.SSLError as e:
    print('requests SSLError', 'CERTIFICATE_VERIFY_FAILED' in str(e))
# Sandbox code cannot vouch for the server: its own CA file, or verification turned off.
ctx = ssl.create_default_context(cafile='/workspace/test-ca.pem')
try:
    ctx.wrap_socket(socket.create_connection(({HOSTNAME!r}, {server.port})),
                    server_hostname={HOSTNAME!r})
except ssl.SSLCertVerificationError as e:
    print('own CA refused', 'network_ca_bundle' in str(e))
try:
    requests.get({server.url('/r')!r}, timeout=30, verify=False)
except requests.exceptions.SSLError:
    print('verify=False refused')
""")
    assert "urllib SSLCertVerificationError" in out
    assert "http.client unable to get local issuer certificate | CERTIFICATE_VERIFY_FAILED " \
           "True" in out
    assert "pandas SSLCertVerificationError" in out
    assert "requests SSLError True" in out
    assert "own CA refused True" in out
    assert "verify=False refused" in out
    assert len(server.seen) == before  # no request reached the server
    refused = [r for r in box.status()["network"]["connections"]
               if r["port"] == server.port and "certificate not verified" in r["reason"]]
    assert refused and not any(r["tls"] for r in refused)


def test_a_socket_wrapped_by_hand_select_and_makefile(box, server, ca):
    box.set_network_policy(allow(server, ca))
    out = ok(box, f"""
import ssl, socket, select
ctx = ssl.create_default_context()
ctx.set_alpn_protocols(['http/1.1'])
raw = socket.create_connection(({HOSTNAME!r}, {server.port}), timeout=30)
s = ctx.wrap_socket(raw, server_hostname={HOSTNAME!r})
print('detached', raw.fileno(), s.fileno() > 0, s.server_hostname)
raw.close()  # closing the detached socket leaves the TLS one working
s.sendall(b'GET /raw HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')
print('readable', select.select([s], [], [], 30)[0] == [s])
f = s.makefile('rb')
print(f.readline())
print(f.read().endswith(b'hello from /raw'))
f.close(); s.close()
late = ctx.wrap_socket(socket.socket(), server_hostname={HOSTNAME!r})  # handshake on connect
late.connect(({HOSTNAME!r}, {server.port}))
print('late', late.version() is not None)
late.close()
""")
    assert "detached -1 True secure.test" in out
    assert "readable True" in out
    assert "b'HTTP/1.1 200 OK\\r\\n'" in out
    assert out.count("True") >= 4 and "late True" in out


def test_a_tls_connection_open_at_a_snapshot_gives_a_clean_error_after_restore(box, server, ca):
    box.set_network_policy(allow(server, ca))
    ok(box, f"""
import http.client
kept = http.client.HTTPSConnection({HOSTNAME!r}, {server.port}, timeout=30)
kept.request('GET', '/before')
print(kept.getresponse().read())
""")
    image = box.snapshot()
    box.restore(image)
    assert box.status()["network"]["open_connections"] == 0
    out = ok(box, """
try:
    kept.sock.sendall(b'GET /after HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
except ConnectionResetError as e:
    print('reset:', e)
kept.close()
""")
    assert "reset: this connection is gone" in out
    assert not any(path == "/after" for _, path, _ in server.seen)
