"""HTTPS servers on 127.0.0.1 for the TLS tests (issue 16 item 2), started by the tests:

* ``TestCA``: a throw-away certificate authority (``trustme``) written to a PEM file, the
  administrator's ``ca_bundle`` in the tests' policies;
* ``HttpsServer``: ``tests.network_servers``' routes over TLS with a certificate of the given
  CA (or a self-signed one) for the given names; it records every request's headers
  (``seen``), so a test can check what the server received (injected headers) without any
  route echoing them back to the guest.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.network_servers import HttpServer, _Handler, _Server

#: The name the test certificates are issued for (resolved by the tests' StaticResolver).
HOSTNAME = "secure.test"


class TestCA:
    """A certificate authority for one test module; ``pem`` is the CA file."""

    __test__ = False  # not a pytest test class

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.pem = folder / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.pem))

    def server_context(self, *names: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*names).configure_cert(context)
        return context


def self_signed_context(name: str, folder: Path) -> ssl.SSLContext:
    """A server certificate for ``name`` that is its own issuer (no CA vouches for it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = folder / "self-signed.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem)
    return context


class _RecordingHandler(_Handler):
    server: _TlsServer

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            headers: dict[str, str] = {}
            for name, value in self.headers.items():  # a repeated header: values joined
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self.server.seen.append((self.command, self.path, headers))
        return parsed


class _TlsServer(_Server):
    context: ssl.SSLContext | None
    seen: list[tuple[str, str, dict[str, str]]]

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.context is None:  # plain HTTP
            return sock, address
        # The handshake happens on the handler's thread (first read), so a client that never
        # finishes it cannot stop the accept loop.
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), address


class HttpsServer(HttpServer):
    """``with HttpsServer(context) as server:`` ``server.url("/data.csv")``, ``server.seen``.
    ``context=None``: the same over plain HTTP (``url`` then starts with ``http://``)."""

    def __init__(self, context: ssl.SSLContext | None, hostname: str = HOSTNAME) -> None:
        self._tls = _TlsServer(("127.0.0.1", 0), _RecordingHandler)
        self._tls.context = context
        self._tls.seen = []
        super().__init__(self._tls)
        self.hostname = hostname

    @property
    def seen(self) -> list[tuple[str, str, dict[str, str]]]:
        return self._tls.seen

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "http" if self._tls.context is None else "https"
        return f"{scheme}://{host or self.hostname}:{self.port}{path}"
