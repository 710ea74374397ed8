"""Issue 16, TLS and header injection, bad input: a TLS server the administrator's trust does
not vouch for is refused whatever sandbox code does (a self-signed certificate, a certificate for
another name, the guest's own CA, verification turned off), before any request reaches it; a
header the administrator injects reaches the server but never the guest (not its request
objects, not the bytes an echoing server sends back from a body, not status/audit/%sandbox/the
log, not the guest's memory); request streams that a server could read differently from the
host (request smuggling) are refused, never forwarded with the secret in them.

The parser's own cases run on ``RequestRewriter`` directly; the rest in a real sandbox against
servers on 127.0.0.1 that each policy allows explicitly."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import warnings
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_sandbox.runtime import snapshot as snapshot_format
from jupyter_sandbox.runtime.network.header_injection import (
    MAX_HEAD,
    RequestRefusedError,
    RequestRewriter,
)
from jupyter_sandbox.runtime.network.policy import NetworkPolicy
from jupyter_sandbox.runtime.network.resolver import StaticResolver
from jupyter_sandbox.runtime.sandbox import ExecuteReply, Sandbox
from tests.conftest import stream_text
from tests.network_servers import SilentServer
from tests.tls_servers import HOSTNAME, HttpsServer, TestCA, self_signed_context
from tests.waiting import wait_for

SECRET = "Bearer s3cr3t-6c1f0e9a-never-in-the-guest"
INJECT = ((HOSTNAME, "Authorization", SECRET),)


# -- the request parser ----------------------------------------------------------------------
def rewrite(*pieces: bytes) -> bytes:
    """Feed ``pieces`` as separate sends; the bytes that would go out."""
    rewriter = RequestRewriter(HOSTNAME, [("Authorization", SECRET)])
    out = bytearray()
    for piece in pieces:
        view = memoryview(piece)
        while view:
            step = rewriter.step(view)
            if step.framing:
                view = view[step.framing:]
            else:
                out += rewriter.output
                rewriter.output.clear()
                out += view[:step.body]
                rewriter.sent_body(step.body)
                view = view[step.body:]
            out += rewriter.output
            rewriter.output.clear()
    return bytes(out)


AUTH = b"Authorization: " + SECRET.encode()


def test_the_header_is_added_or_replaced_in_every_pipelined_head():
    stream = (b"GET /a HTTP/1.1\r\nHost: x\r\nauthorization: guest-value\r\n\r\n"
              b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
              b"GET /c HTTP/1.0\r\n\r\n")
    out = rewrite(stream)
    assert out.count(AUTH) == 3
    assert b"guest-value" not in out
    assert out.startswith(b"GET /a HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n\r\nPOST /b")
    assert b"\r\n\r\nhelloGET /c HTTP/1.0\r\n" + AUTH + b"\r\n\r\n" in out


def test_sends_split_anywhere_give_the_same_bytes():
    stream = (b"PUT /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
              b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    whole = rewrite(stream)
    assert whole.count(AUTH) == 2
    assert rewrite(*(stream[i:i + 1] for i in range(len(stream)))) == whole
    assert rewrite(stream[:7], stream[7:61], stream[61:]) == whole


@pytest.mark.parametrize("body_kind", ["length", "chunked"])
def test_a_request_inside_a_body_is_forwarded_untouched(body_kind):
    inner = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    if body_kind == "length":
        stream = b"POST /echo HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(inner) + inner
    else:
        stream = (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"%x\r\n" % len(inner) + inner + b"\r\n0\r\n\r\n")
    out = rewrite(stream)
    assert out.count(AUTH) == 1 and inner in out
    assert out.index(AUTH) < out.index(inner)


def test_after_an_upgrade_request_nothing_more_is_injected():
    stream = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
              b"GET /after HTTP/1.1\r\n\r\n")
    out = rewrite(stream)
    assert out.count(AUTH) == 1
    assert out.endswith(b"GET /after HTTP/1.1\r\n\r\n")


_BODY = st.binary(max_size=300).map(
    lambda b: b + b"\r\n\r\nGET /inner HTTP/1.1\r\nHost: x\r\n\r\n" if len(b) % 3 == 0 else b)


@st.composite
def _requests(draw) -> tuple[bytes, bytes]:
    """A stream of well-formed requests and what the host must forward: each head with the
    header added, each body byte for byte (whatever it contains)."""
    sent, forwarded = bytearray(), bytearray()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["get", "length", "chunked"]))
        method = b"GET" if kind == "get" else draw(st.sampled_from([b"POST", b"PUT"]))
        head = method + b" /p HTTP/1.1\r\nHost: x\r\n"
        body = b""
        if kind == "length":
            body = draw(_BODY)
            head += b"Content-Length: %d\r\n" % len(body)
        elif kind == "chunked":
            head += b"Transfer-Encoding: chunked\r\n"
            for chunk in draw(st.lists(_BODY.filter(bool), max_size=3)):
                body += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
            body += b"0\r\n\r\n"
        sent += head + b"\r\n" + body
        forwarded += head + AUTH + b"\r\n\r\n" + body
    return bytes(sent), bytes(forwarded)


@given(_requests(), st.lists(st.integers(1, 400), max_size=12))
@settings(max_examples=300, deadline=None)
def test_any_split_of_well_formed_requests_injects_into_heads_only(pair, cuts):
    stream, expected = pair
    pieces, at = [], 0
    for cut in cuts:
        pieces.append(stream[at:at + cut])
        at += cut
    pieces.append(stream[at:])
    assert rewrite(*(p for p in pieces if p)) == expected


@pytest.mark.parametrize("stream, why", [
    (b"GET / HTTP/1.1\nHost: x\n\n", "bare LF"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "folded"),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "no whitespace before the colon"),
    (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     "both Content-Length and Transfer-Encoding"),
    (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\n", "several"),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "not a number"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "single 'chunked'"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     "single 'chunked'"),
    (b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", "needs a Content-Length"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/2"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\r\n\r\n", "request line"),
    (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", "control characters"),
    (b"GET /a b HTTP/1.1\r\n\r\n", "request line"),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n", "longer than"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk-size line"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
     "longer than its size"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nAuthorization: x\r\n\r\n",
     "trailer names an injected header"),
])
def test_ambiguous_request_streams_are_refused(stream, why):
    with pytest.raises(RequestRefusedError, match=why) as caught:
        rewrite(stream)
    assert isinstance(caught.value, PermissionError)
    assert SECRET not in str(caught.value)


# -- real sandboxes --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def server(ca) -> Iterator[HttpsServer]:
    with HttpsServer(ca.server_context(HOSTNAME)) as running:
        yield running


@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Iterator[Sandbox]:
    from jupyter_sandbox.runtime.config import SandboxConfig

    config = SandboxConfig(host_folder=tmp_path_factory.mktemp("notebook"),
                           state_dir=tmp_path_factory.mktemp("state"))
    with Sandbox(config) as sandbox:
        sandbox.network.resolver = StaticResolver({HOSTNAME: ["127.0.0.1"],
                                                   "other.test": ["127.0.0.1"]})
        yield sandbox


def policy_for(port: int, ca: TestCA | None, **kw) -> NetworkPolicy:
    return NetworkPolicy(enabled=True, allow=(f"{HOSTNAME}:{port}", f"127.0.0.1:{port}"),
                         ca_bundle=str(ca.pem) if ca else None, **kw)


def run(sandbox: Sandbox, code: str) -> tuple[ExecuteReply, str]:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    assert reply.status == "ok", (reply.ename, reply.evalue, "\n".join(reply.traceback))
    return reply, stream_text(messages)


REFUSALS = """
import ssl, socket, urllib.request, urllib.error
def attempt(url, host, port):
    try:
        urllib.request.urlopen(url, timeout=30)
        print('urllib REACHED')
    except urllib.error.URLError as e:
        print('urllib', type(e.reason).__name__, getattr(e.reason, 'verify_message', ''))
    for how in ('unverified', 'cert_none'):
        if how == 'unverified':
            ctx = ssl._create_unverified_context()
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            s = ctx.wrap_socket(socket.create_connection((host, port), timeout=30),
                                server_hostname=host)
            s.sendall(b'GET /reached HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
            print(how, 'REACHED')
        except ssl.SSLCertVerificationError as e:
            print(how, 'refused:', e.verify_message)
"""


def test_a_self_signed_certificate_is_refused_even_with_verification_off(box, ca,
                                                                         tmp_path):
    with HttpsServer(self_signed_context(HOSTNAME, tmp_path)) as rogue:
        box.set_network_policy(policy_for(rogue.port, ca))  # a CA is configured: not this one
        _, out = run(box, REFUSALS + f"attempt({rogue.url('/reached')!r}, {HOSTNAME!r}, "
                     f"{rogue.port})")
        assert "REACHED" not in out
        assert "urllib SSLCertVerificationError self-signed certificate" in out
        assert "unverified refused: self-signed certificate" in out
        assert "cert_none refused: self-signed certificate" in out
        assert rogue.seen == []


def test_a_certificate_for_another_name_is_refused(box, ca):
    with HttpsServer(ca.server_context("other.test")) as wrong:
        box.set_network_policy(policy_for(wrong.port, ca))
        _, out = run(box, REFUSALS + f"attempt({wrong.url('/reached')!r}, {HOSTNAME!r}, "
                     f"{wrong.port})")
        assert "REACHED" not in out
        assert out.count("Hostname mismatch") == 3, out
        assert wrong.seen == []


def test_a_wrong_server_hostname_gets_no_injected_header(box, ca):
    """SNI is the name verified; a guest that names another host the certificate is valid for
    gets no header meant for HOSTNAME (injection follows the verified name)."""
    with HttpsServer(ca.server_context(HOSTNAME, "other.test")) as both:
        box.set_network_policy(policy_for(both.port, ca, inject_headers=INJECT))
        _, out = run(box, f"""
import ssl, socket
ctx = ssl.create_default_context()
s = ctx.wrap_socket(socket.create_connection(({HOSTNAME!r}, {both.port}), timeout=30),
                    server_hostname='other.test')
s.sendall(b'GET /as-other HTTP/1.1\\r\\nHost: other.test\\r\\nConnection: close\\r\\n\\r\\n')
print(s.makefile('rb').readline())
""")
        assert "200 OK" in out
        assert [h.get("Authorization") for _, p, h in both.seen if p == "/as-other"] == [None]


def _secret_in_memory(sandbox: Sandbox, needle: bytes) -> bool:
    image = snapshot_format.decode(sandbox.snapshot(), sandbox._snapshot_key,
                                   snapshot_format.Bounds.of(1 << 36, 1 << 36, 1 << 24))
    pages = sorted(image.pages)
    for index in pages:  # a needle split across two pages is found in the joined pair
        page = bytes(image.pages[index])
        following = bytes(image.pages.get(index + 1, b""))[:len(needle)]
        if needle in page + following:
            return True
    return False


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_an_injected_header_reaches_the_server_and_never_the_guest(box, ca, scheme, caplog):
    context = ca.server_context(HOSTNAME) if scheme == "https" else None
    caplog.set_level(logging.DEBUG, logger="jupyter_sandbox")
    with HttpsServer(context) as api:
        box.set_network_policy(policy_for(api.port, ca, inject_headers=INJECT))
        _, out = run(box, f"""
import urllib.request, http.client
req = urllib.request.Request({api.url('/api')!r}, headers={{'Authorization': 'guest-own'}})
with urllib.request.urlopen(req, timeout=30) as r:
    print('status', r.status, r.read())
print('guest request headers', req.header_items())
Conn = http.client.HTTPSConnection if {scheme!r} == 'https' else http.client.HTTPConnection
c = Conn({HOSTNAME!r}, {api.port}, timeout=30)
for n in range(2):  # keep-alive: every request on the connection
    c.request('GET', f'/keep/{{n}}')
    print('keep', c.getresponse().read())
inner = b'GET /smuggled HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'
c.request('POST', '/echo', body=inner)  # an echoing route: the body comes back untouched
echoed = c.getresponse().read()
print('echo', echoed == inner, b's3cr3t' in echoed)
c.close()
marker = 'CANARY-' + 'a41d7be0'
""")
        assert "status 200 b'hello from /api'" in out
        assert "'Authorization', 'guest-own'" in out  # the guest's own object: its own value
        assert out.count("keep b'hello from /keep/") == 2
        assert "echo True False" in out
        seen = {path: headers for _, path, headers in api.seen}
        assert seen["/api"]["Authorization"] == SECRET  # replaced, not doubled
        assert seen["/keep/0"]["Authorization"] == seen["/keep/1"]["Authorization"] == SECRET
        assert "/smuggled" not in seen
        # Nowhere the guest or an API caller can look: status, audit, %sandbox, the log.
        status = json.dumps(box.status())
        assert "s3cr3t" not in status and '"header": "Authorization"' in status
        _, shown = run(box, "%sandbox network")
        assert "s3cr3t" not in shown
        assert not any("s3cr3t" in record.getMessage() for record in caplog.records)
        # Nor anywhere in the guest's memory (the control string is found by the same scan).
        assert _secret_in_memory(box, b"CANARY-a41d7be0")
        assert not _secret_in_memory(box, b"s3cr3t-6c1f0e9a")


def test_a_malformed_request_to_an_injected_host_is_refused_not_forwarded(box, ca, server):
    box.set_network_policy(policy_for(server.port, ca, inject_headers=INJECT))
    _, out = run(box, f"""
import ssl, socket
ctx = ssl.create_default_context()
def send(data):
    s = ctx.wrap_socket(socket.create_connection(({HOSTNAME!r}, {server.port}), timeout=30),
                        server_hostname={HOSTNAME!r})
    try:
        s.sendall(data)
        s.sendall(b'GET /after HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
        print('SENT')
    except PermissionError as e:
        print('refused:', e)
    try:
        s.sendall(b'x')
    except OSError as e:
        print('then', type(e).__name__)
send(b'POST /echo HTTP/1.1\\r\\nContent-Length: 0\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n'
     b'GET /smuggled HTTP/1.1\\r\\n\\r\\n')
send(b'GET /lf HTTP/1.1\\nHost: x\\n\\n')
""")
    assert "SENT" not in out
    assert "both Content-Length and Transfer-Encoding" in out and "bare LF" in out
    assert out.count("then ConnectionResetError") == 2
    assert not {"/echo", "/smuggled", "/after", "/lf"} & {p for _, p, _ in server.seen}
    refused = [r for r in box.status()["network"]["connections"]
               if r["port"] == server.port and "malformed request" in r["reason"]]
    assert len(refused) == 2


def test_http2_is_not_offered_to_a_host_with_injected_headers(box, ca):
    context = ca.server_context(HOSTNAME)
    context.set_alpn_protocols(["h2", "http/1.1"])  # the server prefers HTTP/2
    with HttpsServer(context) as api:
        check = f"""
import ssl, socket
ctx = ssl.create_default_context()
ctx.set_alpn_protocols(['h2', 'http/1.1'])
s = ctx.wrap_socket(socket.create_connection(({HOSTNAME!r}, {api.port}), timeout=30),
                    server_hostname={HOSTNAME!r})
print('alpn', s.selected_alpn_protocol())
s.close()
"""
        box.set_network_policy(policy_for(api.port, ca))
        assert "alpn h2" in run(box, check)[1]
        box.set_network_policy(policy_for(api.port, ca, inject_headers=INJECT))
        assert "alpn http/1.1" in run(box, check)[1]


def test_the_guest_cannot_name_a_host_ca_file(box, server, ca):
    """A policy with no CA: a host path the guest names (the real CA file on the host) is
    not trusted either; load_verify_locations only sees the sandbox's own files."""
    box.set_network_policy(policy_for(server.port, None))
    _, out = run(box, f"""
import ssl
try:
    ssl.create_default_context(cafile={str(ca.pem)!r})
except FileNotFoundError:
    print('not in the sandbox')
""")
    assert "not in the sandbox" in out


def test_a_server_that_never_answers_the_handshake_is_cut_by_timeout_and_interrupt(box, ca):
    with SilentServer() as silent:
        box.set_network_policy(policy_for(silent.port, ca))
        _, out = run(box, f"""
import ssl, socket
ctx = ssl.create_default_context()
try:
    ctx.wrap_socket(socket.create_connection(('127.0.0.1', {silent.port}), timeout=0.5),
                    server_hostname={HOSTNAME!r})
except TimeoutError as e:
    print('timeout:', e)
""")
        assert "timeout: _ssl.c: The handshake operation timed out" in out
        result: list[ExecuteReply] = []
        cell = threading.Thread(target=lambda: result.append(box.execute(
            "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', "
            f"{silent.port})), server_hostname={HOSTNAME!r})")))
        cell.start()

        def handshaking() -> bool:
            return any(r["port"] == silent.port and r["tls_peer"] and r["ended_at"] is None
                       for r in box.status()["network"]["connections"])

        wait_for(handshaking, "the handshake to start")
        box.interrupt()
        cell.join(timeout=60)
        assert not cell.is_alive() and result[0].ename == "KeyboardInterrupt"
        wait_for(lambda: all(r["ended_at"] is not None
                             for r in box.status()["network"]["connections"]
                             if r["port"] == silent.port),
                 "the half-open TLS connection to close")
        assert "42" in run(box, "print(40 + 2)")[1]


def test_forged_tls_calls_fail_cleanly(box, ca, server, caplog):
    box.set_network_policy(policy_for(server.port, ca))
    _, out = run(box, f"""
import _host, json, socket
s = socket.create_connection(({HOSTNAME!r}, {server.port}), timeout=30)
conn = s.connection_id
def tls(**fields):
    header = {{"call": "tls", "conn": conn, "server_hostname": {HOSTNAME!r}, "alpn": None,
              "timeout": 30, **fields}}
    answer = json.loads(_host.call(b'N' + json.dumps(header).encode() + b'\\n'))
    print(answer.get('kind', 'ok'), str(answer.get('error', answer.get('peer')))[:70])
tls(conn=987654321)                       # no such connection
tls(conn=True)
tls(alpn='h2')                            # not a list
tls(alpn=['x'] * 50)
tls(server_hostname='a' * 300)
tls(server_hostname='bad\\x00name')       # a control character: refused, connection closed
s = socket.create_connection(({HOSTNAME!r}, {server.port}), timeout=30)
conn = s.connection_id
tls()                                     # a real upgrade
tls()                                     # twice: refused
""")
    kinds = [line.split()[0] for line in out.splitlines()]
    assert kinds == ["lost", "value", "value", "value", "value", "ssl", "ok", "ssl"], out
    assert "ok secure.test" in out and "already TLS" in out
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert "42" in run(box, "print(6 * 7)")[1]


def test_a_server_below_tls_1_2_is_refused_whatever_the_guest_allows(box, ca):
    context = ca.server_context(HOSTNAME)
    with warnings.catch_warnings():  # the old versions are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with HttpsServer(context) as old:
        box.set_network_policy(policy_for(old.port, ca))
        _, out = run(box, f"""
import ssl, socket
ctx = ssl.create_default_context()
ctx.minimum_version = ssl.TLSVersion.TLSv1  # asks for less: the host keeps TLS 1.2
try:
    ctx.wrap_socket(socket.create_connection(({HOSTNAME!r}, {old.port}), timeout=30),
                    server_hostname={HOSTNAME!r})
    print('CONNECTED')
except ssl.SSLError as e:
    print('refused:', type(e).__name__, e)
""")
        assert "CONNECTED" not in out
        assert "refused: SSLError" in out and "PROTOCOL_VERSION" in out, out
        assert old.seen == []


def test_no_bytes_move_while_a_handshake_is_unfinished(box, ca):
    """A guest that starts the host's handshake, lets an interrupt cut it and then writes
    directly gets an error: OpenSSL would otherwise finish the handshake inside the write."""
    with SilentServer() as silent:
        box.set_network_policy(policy_for(silent.port, ca))
        run(box, f"import _host, json, socket\n"
                 f"s = socket.create_connection(('127.0.0.1', {silent.port}), timeout=30)")
        raw_tls = ("header = {'call': 'tls', 'conn': s.connection_id, 'server_hostname': "
                   f"{HOSTNAME!r}, 'alpn': None, 'timeout': None}}\n"
                   "_host.call(b'N' + json.dumps(header).encode() + b'\\n')\n"
                   "import time\ntime.sleep(60)")  # the interrupt lands here at the latest
        result: list[ExecuteReply] = []
        cell = threading.Thread(target=lambda: result.append(box.execute(raw_tls)))
        cell.start()
        wait_for(lambda: any(r["port"] == silent.port and r["tls_peer"]
                             for r in box.status()["network"]["connections"]),
                 "the handshake to start")
        box.interrupt()
        cell.join(timeout=60)
        assert not cell.is_alive() and result[0].ename == "KeyboardInterrupt"
        _, out = run(box, """
for what in ('send', 'recv'):
    try:
        s.send(b'GET / HTTP/1.1\\r\\n\\r\\n') if what == 'send' else s.recv(10)
    except OSError as e:
        print(what, e)
s.close()
""")
        assert out.count("the TLS handshake on this connection has not finished") == 2, out


def test_a_huge_certificate_chain_counts_against_the_byte_limits(box, ca):
    """OpenSSL reads the handshake from the host socket itself: its bytes (here a certificate
    of ~60 KB, 3000 names) count in the audit and against the byte limits, so a server that
    sends a huge handshake stops at the limit with NetworkLimitError, before any request."""
    leaf = ca.ca.issue_cert(HOSTNAME, *(f"name-{i:05d}.bulk.test" for i in range(3000)))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    certificate = len(ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode()))
    assert certificate > 50_000
    fetch = """
import urllib.request, urllib.error
try:
    with urllib.request.urlopen({url!r}, timeout=30) as r:
        print('REACHED', r.status)
except urllib.error.URLError as e:
    print(type(e.reason).__name__, e.reason)
"""
    with HttpsServer(context) as bulky:
        box.set_network_policy(policy_for(bulky.port, ca, max_bytes_per_cell=16_000))
        open_before = box.status()["network"]["open_connections"]
        _, out = run(box, fetch.format(url=bulky.url("/small")))
        assert out.startswith("NetworkLimitError this cell has moved "), out
        assert "max_bytes_per_cell = 16000" in out and "REACHED" not in out
        assert bulky.seen == []
        record = box.status()["network"]["connections"][-1]
        assert record["port"] == bulky.port and "byte limit" in record["reason"]
        assert record["bytes_received"] > 16_000 and record["bytes_sent"] > 0
        assert box.status()["network"]["open_connections"] == open_before  # closed

        # With room for it, the handshake's bytes both ways are in the audit and the total.
        box.set_network_policy(policy_for(bulky.port, ca))
        before = box.status()["network"]["bytes"]
        _, out = run(box, fetch.format(url=bulky.url("/small")))
        assert out == "REACHED 200\n", out
        record = box.status()["network"]["connections"][-1]
        assert record["tls"] is True and record["bytes_received"] > certificate
        assert record["bytes_sent"] > 200  # the ClientHello and the client's Finished too
        moved = box.status()["network"]["bytes"] - before
        assert moved == record["bytes_sent"] + record["bytes_received"]
