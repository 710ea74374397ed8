"""TLS for brokered connections, done by the host: the guest has no ``_ssl`` and holds no keys.

The guest's ``ssl`` shim asks the host (network call ``tls``) to upgrade one of its connections;
the host wraps the connection's socket in an ``ssl.SSLSocket``, does the handshake without
blocking (waits cut by interrupts and the cell deadline, as every broker wait) and verifies the
certificate, then the broker relays plaintext (``Connection`` reads and waits already account for
the bytes an ``SSLSocket`` holds decrypted). The bytes OpenSSL moves by itself (the handshake,
then framing and tickets) are counted from the kernel's TCP counters (``wire_bytes.py``) in the
audit and the byte limits, after each handshake step, so an endless handshake stops at a limit.

Trust is the administrator's, never the guest's: the host's system trust store (``certifi``'s
bundle when the system has none), plus the policy's ``ca_bundle``. The guest cannot add a CA or
turn verification off (its ``load_verify_locations`` and ``verify_mode`` change nothing here):
otherwise sandbox code could vouch for a server of its own under an allowed name, and headers the
administrator injects for that name (``header_injection.py``) would go to it. TLS 1.2 at least,
SNI and host name checking always. A verification failure closes the connection and the guest
raises ``ssl.SSLCertVerificationError`` with the host's message.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import selectors
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..protocol import NetTlsAnswer
from .broker import NetworkBroker
from .connection import Connection, WaitOutcome, wait_for
from .errors import NetworkError, TlsError, TlsVerificationError
from .header_injection import rewriter_for
from .wire_bytes import TlsWireAccount

log = logging.getLogger("jupyter_sandbox.network")

#: The trait that names the administrator's extra CA file (in messages).
CA_TRAIT = "SandboxKernel.network_ca_bundle"
#: ALPN protocol names the guest may ask for, and how many.
MAX_ALPN = 8
#: Contexts kept (one per CA file and ALPN list; loading the trust store takes ~10 ms).
CONTEXTS_SIZE = 16
#: The ALPN names an HTTP/1.x parser can follow (a connection with injected headers).
HTTP1_ALPN = ("http/1.1", "http/1.0")


@dataclass(frozen=True)
class TlsSession:
    """What the guest learns of a finished handshake (public facts only, no keys)."""

    version: str | None
    cipher: tuple[str, str, int] | None
    alpn: str | None
    peer: str
    cert: dict[str, Any]
    der: bytes

    def to_json(self) -> NetTlsAnswer:
        return {"version": self.version, "cipher": list(self.cipher) if self.cipher else None,
                "alpn": self.alpn, "peer": self.peer, "cert": self.cert,
                "der": base64.b64encode(self.der).decode("ascii")}


_contexts: OrderedDict[tuple[str | None, float | None, tuple[str, ...]], ssl.SSLContext] = (
    OrderedDict())
_contexts_lock = threading.Lock()


def client_context(ca_bundle: str | None, alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    """The host's client context: system trust (or certifi's), the administrator's CA file,
    TLS ≥ 1.2, CERT_REQUIRED and host name checking. Cached by CA file (and its mtime) and
    ALPN list."""
    try:
        mtime = os.stat(ca_bundle).st_mtime if ca_bundle else None
    except OSError as exc:
        raise TlsError(f"the administrator's CA bundle {ca_bundle!r} ({CA_TRAIT}) cannot be "
                       f"read: {exc.strerror or exc}; ask the administrator to fix it") from exc
    key = (ca_bundle, mtime, alpn)
    with _contexts_lock:
        context = _contexts.get(key)
        if context is not None:
            _contexts.move_to_end(key)
            return context
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not context.cert_store_stats()["x509_ca"]:
        _load_certifi(context)
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"the administrator's CA bundle {ca_bundle!r} ({CA_TRAIT}) is not "
                           f"a PEM file of CA certificates: {exc}; ask the administrator to "
                           "fix it") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if alpn:
        context.set_alpn_protocols(list(alpn))
    with _contexts_lock:
        _contexts[key] = context
        while len(_contexts) > CONTEXTS_SIZE:
            _contexts.popitem(last=False)
    return context


def _load_certifi(context: ssl.SSLContext) -> None:
    """certifi's Mozilla bundle, for a host without a system trust store."""
    try:
        import certifi
    except ImportError:
        log.warning("the host has no system CA certificates and certifi is not installed: "
                    "only the administrator's ca_bundle is trusted for TLS")
        return
    context.load_verify_locations(cafile=certifi.where())


def upgrade(broker: NetworkBroker, conn_id: int, server_hostname: str | None,
            alpn: list[str] | None, timeout: float | None,
            wakeup: threading.Event) -> TlsSession | WaitOutcome:
    """Start (or, after an interrupted wait, resume) the TLS handshake on a connection.

    ``server_hostname`` is sent as SNI and the certificate must be valid for it; without one,
    for the address connected to. Returns the session, or TIMEOUT/INTERRUPTED (call again to
    resume); raises TlsVerificationError / TlsError (the connection is then closed)."""
    conn = broker.get(conn_id)
    policy = broker.policy
    try:
        if not conn.tls_handshaking:
            if conn.record.tls:
                raise TlsError("this connection is already TLS")
            if conn.rewriter is not None and conn.rewriter.mid_request:
                raise TlsError("a request was half sent on this connection before the TLS "
                               "upgrade")
            hostname = _hostname(server_hostname, conn)
            injected = policy.headers_for(hostname, conn.record.port)
            offered = _alpn(alpn, http1_only=bool(injected))
            context = client_context(policy.ca_bundle, offered)
            conn.wire = TlsWireAccount(conn.sock)  # the handshake's bytes count from here
            conn.sock = context.wrap_socket(conn.sock, server_hostname=hostname,
                                            do_handshake_on_connect=False)
            conn.tls_handshaking = True
            conn.record.tls_peer = hostname
            conn.rewriter = rewriter_for(injected, hostname)
        outcome = _handshake(broker, conn, min(timeout, policy.connect_timeout)
                             if timeout is not None else policy.connect_timeout, wakeup)
        if outcome is not WaitOutcome.READY:
            if outcome is WaitOutcome.TIMEOUT:
                raise TimeoutError("_ssl.c: The handshake operation timed out")
            return outcome
    except ssl.SSLCertVerificationError as exc:
        _fail(broker, conn, f"certificate not verified: {exc.verify_message}")
        raise TlsVerificationError(
            f"{exc}; the sandbox's host verifies every certificate against the "
            f"administrator's trust (the host's trust store and {CA_TRAIT}): sandbox code "
            "cannot add a CA or turn verification off", exc.verify_code) from exc
    except ssl.SSLError as exc:
        _fail(broker, conn, f"TLS failed: {exc}")
        raise TlsError(str(exc)) from exc
    except (TlsError, TimeoutError, OSError, ValueError) as exc:
        _fail(broker, conn, f"TLS failed: {exc}")
        if isinstance(exc, (NetworkError, TimeoutError)):
            raise
        raise TlsError(str(exc)) from exc
    sock = conn.sock
    if not isinstance(sock, ssl.SSLSocket):  # only reachable if the handshake was bypassed
        raise TlsError("the connection is not a TLS connection")
    conn.tls_handshaking = False
    conn.record.tls = True
    peer = conn.record.tls_peer or ""
    log.info("TLS to %s (%s) port %s verified for %s: %s%s", conn.record.host,
             conn.record.address, conn.record.port, peer, sock.version(),
             ", headers injected" if conn.rewriter else "")
    cert = sock.getpeercert() or {}
    return TlsSession(version=sock.version(), cipher=sock.cipher(),
                      alpn=sock.selected_alpn_protocol(), peer=peer, cert=dict(cert),
                      der=sock.getpeercert(binary_form=True) or b"")


def _handshake(broker: NetworkBroker, conn: Connection, timeout: float,
               wakeup: threading.Event) -> WaitOutcome:
    """Handshake steps until done, each step's wire bytes counted in the audit and the byte
    limits (``broker.count_wire``: past a limit, ``NetworkLimitError`` ends the handshake)."""
    sock = conn.sock
    if not isinstance(sock, ssl.SSLSocket):
        raise TlsError("the connection is not a TLS connection")
    deadline = time.monotonic() + timeout
    while True:
        try:
            try:
                sock.do_handshake()
            finally:  # also when OpenSSL gave up: what it read was read
                broker.count_wire(conn, handshaking=True)
            return WaitOutcome.READY
        except ssl.SSLWantReadError:
            events = selectors.EVENT_READ
        except ssl.SSLWantWriteError:
            events = selectors.EVENT_WRITE
        outcome, _ = wait_for({0: (sock, events)}, max(0.0, deadline - time.monotonic()),
                              wakeup)
        if outcome is not WaitOutcome.READY:
            return outcome


def _fail(broker: NetworkBroker, conn: Connection, why: str) -> None:
    """A failed upgrade closes the connection (its socket is half in TLS)."""
    conn.record.reason = f"{conn.record.reason}; {why}"
    log.info("TLS to %s (%s) port %s refused: %s", conn.record.host, conn.record.address,
             conn.record.port, why)
    conn.tls_handshaking = False
    broker.close(conn.id)


def _hostname(server_hostname: str | None, conn: Connection) -> str:
    """The name to verify: the guest's ``server_hostname`` (a name or an address), else the
    address connected to."""
    if server_hostname is None:
        if not conn.record.address:
            raise TlsError("the connection has no address to verify")
        return conn.record.address
    name = server_hostname.strip().rstrip(".")
    if not name or len(name) > 253 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in name):
        raise TlsError(f"server_hostname {server_hostname[:80]!r} is not a host name")
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return name


def _alpn(requested: list[str] | None, *, http1_only: bool) -> tuple[str, ...]:
    """The guest's ALPN list, checked; only HTTP/1.x names when headers are injected (the
    host must be able to read each request)."""
    if not requested:
        return ()
    if len(requested) > MAX_ALPN or not all(
            isinstance(p, str) and 0 < len(p) < 256 and p.isascii() for p in requested):
        raise TlsError(f"alpn must be a list of at most {MAX_ALPN} protocol names")
    if http1_only:
        return tuple(p for p in requested if p in HTTP1_ALPN)
    return tuple(requested)
