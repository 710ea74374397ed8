"""The sandbox's ``ssl`` module: TLS done by the host (``import ssl`` anywhere gets this one).

The guest CPython has no ``_ssl`` (the stdlib ``ssl`` fails to import), and it must hold no
keys. ``SSLContext.wrap_socket`` returns an :class:`SSLSocket` over the same brokered
connection after asking the host (network call ``tls``) to upgrade it: the host does the
handshake, verifies the certificate and relays plaintext, so reads and writes here are the
brokered socket's own. ``http.client``, ``urllib.request``, ``urllib3``/``requests``, ``httpx``
(sync) and pandas' URL readers work unchanged.

Trust is the administrator's: the host's trust store plus ``SandboxKernel.network_ca_bundle``.
What code here sets is kept (so libraries read back what they set) but cannot weaken or widen
it: ``load_verify_locations``/``load_default_certs`` add no CA on the host, ``verify_mode =
CERT_NONE`` and ``check_hostname = False`` do not turn verification off, ``set_ciphers`` and
``keylog_filename`` are ignored. (A CA of the guest's would let sandbox code vouch for a server
of its own under an allowed name, and the host would send it the headers it injects for that
name.) A certificate that does not verify raises :class:`SSLCertVerificationError` with the
host's message. Not available: client certificates (``load_cert_chain``: keys stay out of the
sandbox), server-side TLS, ``wrap_bio``/``MemoryBIO`` (asyncio's ``ssl=`` and TLS inside TLS).
"""

from __future__ import annotations

import base64
import calendar
import errno
import os
import socket
import sys
import textwrap
import time
from collections import namedtuple
from enum import Enum, IntEnum, IntFlag
from typing import Any

from . import host_calls
from .sockets import BrokeredSocket, open_sockets

OPENSSL_VERSION = "OpenSSL 3.0 (TLS done by the sandbox's host)"
OPENSSL_VERSION_INFO = (3, 0, 0, 0, 0)
OPENSSL_VERSION_NUMBER = 0x30000000
_OPENSSL_API_VERSION = OPENSSL_VERSION_INFO
HAS_SNI = True
HAS_ALPN = True
HAS_ECDH = True
HAS_NEVER_CHECK_COMMON_NAME = True
HAS_NPN = False
HAS_PSK = False
HAS_PHA = False
HAS_SSLv2 = False
HAS_SSLv3 = False
HAS_TLSv1 = False
HAS_TLSv1_1 = False
HAS_TLSv1_2 = True
HAS_TLSv1_3 = True
CHANNEL_BINDING_TYPES: list[str] = []
_DEFAULT_CIPHERS = "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS"

_UNSUPPORTED = ("{what} is not available in the sandbox: TLS runs on the sandbox's host, which "
                "holds no keys of the guest and offers client-side TLS over brokered "
                "connections only")


class VerifyMode(IntEnum):
    CERT_NONE = 0
    CERT_OPTIONAL = 1
    CERT_REQUIRED = 2


class VerifyFlags(IntFlag):
    VERIFY_DEFAULT = 0
    VERIFY_CRL_CHECK_LEAF = 4
    VERIFY_CRL_CHECK_CHAIN = 12
    VERIFY_X509_STRICT = 32
    VERIFY_ALLOW_PROXY_CERTS = 64
    VERIFY_X509_TRUSTED_FIRST = 32768
    VERIFY_X509_PARTIAL_CHAIN = 524288


class Options(IntFlag):
    OP_ALL = 0x80000850
    OP_NO_SSLv2 = 0
    OP_LEGACY_SERVER_CONNECT = 4
    OP_IGNORE_UNEXPECTED_EOF = 128
    OP_NO_TICKET = 16384
    OP_NO_COMPRESSION = 131072
    OP_SINGLE_DH_USE = 0
    OP_SINGLE_ECDH_USE = 0
    OP_ENABLE_MIDDLEBOX_COMPAT = 1048576
    OP_CIPHER_SERVER_PREFERENCE = 4194304
    OP_NO_SSLv3 = 33554432
    OP_NO_TLSv1 = 67108864
    OP_NO_TLSv1_2 = 134217728
    OP_NO_TLSv1_1 = 268435456
    OP_NO_TLSv1_3 = 536870912
    OP_NO_RENEGOTIATION = 1073741824


class TLSVersion(IntEnum):
    MINIMUM_SUPPORTED = -2
    MAXIMUM_SUPPORTED = -1
    SSLv3 = 768
    TLSv1 = 769
    TLSv1_1 = 770
    TLSv1_2 = 771
    TLSv1_3 = 772


class _SSLMethod(IntEnum):
    PROTOCOL_TLS = 2
    PROTOCOL_TLSv1 = 3
    PROTOCOL_TLSv1_1 = 4
    PROTOCOL_TLSv1_2 = 5
    PROTOCOL_TLS_CLIENT = 16
    PROTOCOL_TLS_SERVER = 17


class SSLErrorNumber(IntEnum):
    SSL_ERROR_SSL = 1
    SSL_ERROR_WANT_READ = 2
    SSL_ERROR_WANT_WRITE = 3
    SSL_ERROR_WANT_X509_LOOKUP = 4
    SSL_ERROR_SYSCALL = 5
    SSL_ERROR_ZERO_RETURN = 6
    SSL_ERROR_WANT_CONNECT = 7
    SSL_ERROR_EOF = 8
    SSL_ERROR_INVALID_ERROR_CODE = 10


_ASN1Object = namedtuple("_ASN1Object", "nid shortname longname oid")


class Purpose(_ASN1Object, Enum):
    SERVER_AUTH = (129, "serverAuth", "TLS Web Server Authentication", "1.3.6.1.5.5.7.3.1")
    CLIENT_AUTH = (130, "clientAuth", "TLS Web Client Authentication", "1.3.6.1.5.5.7.3.2")


DefaultVerifyPaths = namedtuple("DefaultVerifyPaths", "cafile capath openssl_cafile_env "
                                "openssl_cafile openssl_capath_env openssl_capath")

for _enum in (VerifyMode, VerifyFlags, Options, _SSLMethod, SSLErrorNumber):
    globals().update(_enum.__members__)  # CERT_REQUIRED, OP_NO_TICKET... as module names
CERT_NONE = VerifyMode.CERT_NONE
CERT_OPTIONAL = VerifyMode.CERT_OPTIONAL
CERT_REQUIRED = VerifyMode.CERT_REQUIRED
PROTOCOL_TLS = _SSLMethod.PROTOCOL_TLS
PROTOCOL_SSLv23 = _SSLMethod.PROTOCOL_TLS
PROTOCOL_TLS_CLIENT = _SSLMethod.PROTOCOL_TLS_CLIENT


# -- errors ----------------------------------------------------------------------------------
class SSLError(OSError):
    """A TLS error on the host's side of the connection."""

    library: str | None = "SSL"
    reason: str | None = None

    def __str__(self) -> str:
        return str(self.args[1]) if len(self.args) > 1 else super().__str__()


class SSLZeroReturnError(SSLError):
    """The TLS connection was closed cleanly."""


class SSLWantReadError(SSLError):
    """Non-blocking: reading would block (never raised here: the host waits)."""


class SSLWantWriteError(SSLError):
    """Non-blocking: writing would block (never raised here: the host waits)."""


class SSLSyscallError(SSLError):
    """A system error on the host's socket."""


class SSLEOFError(SSLError):
    """The connection ended in violation of the protocol."""


class SSLCertVerificationError(SSLError, ValueError):
    """The server's certificate did not verify on the host (``verify_message`` says why)."""

    verify_code: int | None = None
    verify_message: str | None = None


CertificateError = SSLCertVerificationError
for _cls in (SSLError, SSLZeroReturnError, SSLWantReadError, SSLWantWriteError, SSLSyscallError,
             SSLEOFError, SSLCertVerificationError):
    _cls.__module__ = "ssl"  # tracebacks read ssl.SSLCertVerificationError, as natively


def _cert_error(message: str, number: int | None) -> OSError:
    exc = SSLCertVerificationError(1, message)
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    exc.verify_code = number
    detail = message.split("certificate verify failed: ", 1)[-1]
    exc.verify_message = detail.split(" (_ssl.c", 1)[0].split(";", 1)[0]
    return exc


def _ssl_error(message: str, number: int | None) -> OSError:
    return SSLError(1, message)


host_calls.ERROR_KINDS["cert"] = _cert_error
host_calls.ERROR_KINDS["ssl"] = _ssl_error


# -- contexts --------------------------------------------------------------------------------
class SSLContext:
    """A client context whose settings travel with ``wrap_socket`` to the host (SNI and
    ALPN); trust and verification are the host's (see the module docstring)."""

    sslsocket_class: type[SSLSocket]

    def __init__(self, protocol: int | None = None, *args: Any, **kwargs: Any) -> None:
        self.protocol = _SSLMethod(_SSLMethod.PROTOCOL_TLS if protocol is None else protocol)
        if self.protocol is _SSLMethod.PROTOCOL_TLS_SERVER:
            raise SSLError(1, _UNSUPPORTED.format(what="server-side TLS"))
        client = self.protocol is _SSLMethod.PROTOCOL_TLS_CLIENT
        self._check_hostname = client
        self._verify_mode = VerifyMode.CERT_REQUIRED if client else VerifyMode.CERT_NONE
        self.options = Options.OP_ALL | Options.OP_NO_SSLv3 | Options.OP_NO_COMPRESSION
        self.verify_flags = VerifyFlags.VERIFY_X509_TRUSTED_FIRST
        self.minimum_version = TLSVersion.MINIMUM_SUPPORTED
        self.maximum_version = TLSVersion.MAXIMUM_SUPPORTED
        self.post_handshake_auth: bool | None = False
        self.hostname_checks_common_name = False
        self.keylog_filename: str | None = None  # ignored: the guest never sees the keys
        self.sni_callback: Any = None
        self.security_level = 2
        self.num_tickets = 2
        self._alpn: list[str] | None = None
        self._verify_locations: list[str] = []

    # verify_mode and check_hostname keep CPython's rules about each other.
    @property
    def verify_mode(self) -> VerifyMode:
        return self._verify_mode

    @verify_mode.setter
    def verify_mode(self, value: int) -> None:
        mode = VerifyMode(value)
        if mode is VerifyMode.CERT_NONE and self._check_hostname:
            raise ValueError("Cannot set verify_mode to CERT_NONE when check_hostname is "
                             "enabled.")
        self._verify_mode = mode

    @property
    def check_hostname(self) -> bool:
        return self._check_hostname

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        if value and self._verify_mode is VerifyMode.CERT_NONE:
            self._verify_mode = VerifyMode.CERT_REQUIRED
        self._check_hostname = bool(value)

    def load_verify_locations(self, cafile: Any = None, capath: Any = None,
                              cadata: Any = None) -> None:
        """Accepted (clients such as requests always pass certifi's bundle) and recorded, but
        the host trusts only the administrator's CAs: nothing is added there."""
        if cafile is None and capath is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        for path in (cafile, capath):
            if path is not None:
                location = os.fsdecode(path)
                if not os.path.exists(location):
                    raise FileNotFoundError(errno.ENOENT, "No such file or directory", location)
                self._verify_locations.append(location)

    def load_default_certs(self, purpose: Any = Purpose.SERVER_AUTH) -> None:
        """The host's trust store is always used."""

    def set_default_verify_paths(self) -> None:
        """The host's trust store is always used."""

    def load_cert_chain(self, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        raise SSLError(1, _UNSUPPORTED.format(what="a client certificate (load_cert_chain)"))

    def load_dh_params(self, path: Any) -> None:
        raise SSLError(1, _UNSUPPORTED.format(what="server-side TLS (load_dh_params)"))

    def set_ciphers(self, ciphers: str) -> None:
        """Ignored: the host uses OpenSSL's secure defaults (TLS 1.2 at least)."""
        if not isinstance(ciphers, str):
            raise TypeError("ciphers must be a string")

    def get_ciphers(self) -> list[dict[str, Any]]:
        return []

    def set_alpn_protocols(self, alpn_protocols: Any) -> None:
        """Offered by the host in the handshake (``SSLSocket.selected_alpn_protocol``)."""
        protocols = [str(p) for p in alpn_protocols]
        for name in protocols:
            if not 0 < len(name.encode()) < 256:
                raise SSLError(1, "ALPN protocols must be 1 to 255 in length")
        self._alpn = protocols or None

    def set_npn_protocols(self, npn_protocols: Any) -> None:
        raise NotImplementedError("NPN is not supported (use ALPN: set_alpn_protocols)")

    def set_servername_callback(self, callback: Any) -> None:
        raise SSLError(1, _UNSUPPORTED.format(what="server-side TLS (servername callback)"))

    def set_ecdh_curve(self, name: Any) -> None:
        """Ignored: the host negotiates the key exchange."""

    def get_ca_certs(self, binary_form: bool = False) -> list[Any]:
        return []

    def cert_store_stats(self) -> dict[str, int]:
        return {"x509": 0, "crl": 0, "x509_ca": 0}

    def session_stats(self) -> dict[str, int]:
        return {}

    def wrap_socket(self, sock: Any, server_side: bool = False,
                    do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                    server_hostname: str | bytes | None = None,
                    session: Any = None) -> SSLSocket:
        """An :class:`SSLSocket` taking over ``sock`` (a socket of this sandbox); the host
        upgrades its connection now if it is connected, else on ``connect``."""
        if server_side:
            raise SSLError(1, _UNSUPPORTED.format(what="server-side TLS"))
        if isinstance(server_hostname, bytes):
            server_hostname = server_hostname.decode("idna")
        if server_hostname is not None:
            if not server_hostname or server_hostname.startswith("."):
                raise ValueError("server_hostname cannot be an empty string or start with a "
                                 "leading dot.")
        elif self._check_hostname:
            raise ValueError("check_hostname requires server_hostname")
        if not isinstance(sock, BrokeredSocket):
            raise TypeError(f"wrap_socket needs a socket of the sandbox, not "
                            f"{type(sock).__name__}")
        return SSLSocket._take_over(sock, self, server_hostname, do_handshake_on_connect,
                                    suppress_ragged_eofs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(_UNSUPPORTED.format(
            what="TLS over memory buffers (wrap_bio: asyncio's ssl=, TLS inside TLS)"))


class MemoryBIO:
    """Present for imports; TLS over memory buffers is not available (``wrap_bio``)."""

    def __init__(self) -> None:
        raise NotImplementedError(_UNSUPPORTED.format(what="MemoryBIO"))


class SSLObject:
    """Present for imports and isinstance checks; see :class:`MemoryBIO`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(_UNSUPPORTED.format(what="SSLObject"))


class SSLSession:
    """Present for imports; sessions are kept by the host."""


# -- sockets ---------------------------------------------------------------------------------
class SSLSocket(BrokeredSocket):
    """A brokered socket whose connection the host has upgraded to TLS: bytes read and
    written here are the plaintext, the host encrypts them."""

    server_side = False
    session = None
    session_reused = False

    _context: SSLContext
    server_hostname: str | None
    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool
    _session_info: dict[str, Any] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not have a public constructor. "
                        "Instances are returned by SSLContext.wrap_socket().")

    @classmethod
    def _take_over(cls, sock: BrokeredSocket, context: SSLContext, server_hostname: str | None,
                   do_handshake_on_connect: bool, suppress_ragged_eofs: bool) -> SSLSocket:
        if sock.pending_bytes():
            raise SSLError(1, "the socket has unread plaintext; TLS must start before the "
                           "server's first byte is read")
        self = object.__new__(cls)
        self.__dict__.update(sock.__dict__)
        # The original is detached, as natively: closed, fileno -1, and closing it later
        # (a `with` block around both) leaves the new socket's connection and fd alone.
        sock.__dict__.update(_released=True, _closed=True, connection_id=None, _fileno=-1)
        open_sockets[self._fileno] = self
        self._context = context
        self.server_hostname = server_hostname
        self.do_handshake_on_connect = do_handshake_on_connect
        self.suppress_ragged_eofs = suppress_ragged_eofs
        self._session_info = None
        if self.connection_id is not None and do_handshake_on_connect:
            try:
                self.do_handshake()
            except BaseException:
                self.close()
                raise
        return self

    @property
    def context(self) -> SSLContext:
        return self._context

    @property
    def _sslobj(self) -> SSLSocket | None:
        """CPython's SSLObject behind the socket, which httpcore reads ALPN from: here the
        socket itself answers the same questions (None before the handshake, as natively)."""
        return None if self._session_info is None else self

    def connect(self, address: tuple[Any, ...]) -> None:
        super().connect(address)
        if self.do_handshake_on_connect:
            self.do_handshake()

    def connect_ex(self, address: tuple[Any, ...]) -> int:
        code = super().connect_ex(address)
        if code == 0 and self.do_handshake_on_connect:
            self.do_handshake()
        return code

    def do_handshake(self, block: bool = False) -> None:
        """The host's handshake and certificate check (a non-blocking socket waits for it, up
        to the policy's connect timeout, as its connect does)."""
        if self._session_info is not None:
            return
        conn = self._connected()
        wait = None if self._timeout == 0.0 else self._timeout
        answer = host_calls.waiting({"call": "tls", "conn": conn,
                                     "server_hostname": self.server_hostname,
                                     "alpn": self._context._alpn}, wait)
        if answer is None:
            raise TimeoutError("_ssl.c: The handshake operation timed out")
        self._session_info = host_calls.fields(answer)

    def _session(self) -> dict[str, Any]:
        if self._session_info is None:
            raise ValueError("handshake not done yet")
        return self._session_info

    def version(self) -> str | None:
        return None if self._session_info is None else self._session_info.get("version")

    def cipher(self) -> tuple[Any, ...] | None:
        found = None if self._session_info is None else self._session_info.get("cipher")
        return tuple(found) if found else None

    def shared_ciphers(self) -> list[Any] | None:
        return None

    def compression(self) -> str | None:
        return None

    def selected_alpn_protocol(self) -> str | None:
        return None if self._session_info is None else self._session_info.get("alpn")

    def selected_npn_protocol(self) -> str | None:
        return None

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The certificate the host verified (the dict ``ssl`` gives, or its DER bytes)."""
        session = self._session()
        if binary_form:
            return base64.b64decode(session.get("der") or "")
        return _tuples(session.get("cert") or {})

    def get_verified_chain(self) -> list[bytes]:
        return [self.getpeercert(True)]

    get_unverified_chain = get_verified_chain

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        raise ValueError(f"{cb_type!r} channel binding type not implemented")

    def pending(self) -> int:
        return self.pending_bytes()

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        if buffer is not None:
            return self.recv_into(buffer, len)
        return self.recv(len)

    def write(self, data: Any) -> int:
        return self.send(data)

    def unwrap(self) -> Any:
        raise NotImplementedError(_UNSUPPORTED.format(what="ending TLS on a connection "
                                                      "(unwrap)"))

    def verify_client_post_handshake(self) -> None:
        raise SSLError(1, _UNSUPPORTED.format(what="post-handshake authentication"))

    def __repr__(self) -> str:
        return super().__repr__().replace("<BrokeredSocket", "<SSLSocket", 1)


SSLContext.sslsocket_class = SSLSocket
SSLContext.sslobject_class = SSLObject  # type: ignore[attr-defined]


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples ``getpeercert`` returns."""
    if isinstance(value, dict):
        return {key: _tuples(item) for key, item in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    return value


# -- module functions ------------------------------------------------------------------------
def create_default_context(purpose: Any = Purpose.SERVER_AUTH, *, cafile: Any = None,
                           capath: Any = None, cadata: Any = None) -> SSLContext:
    """A client context: CERT_REQUIRED, host name checking, TLS 1.2 at least (as the host's
    context always is)."""
    if purpose is not Purpose.SERVER_AUTH:
        raise SSLError(1, _UNSUPPORTED.format(what="server-side TLS"))
    context = SSLContext(PROTOCOL_TLS_CLIENT)
    context.minimum_version = TLSVersion.TLSv1_2
    context.verify_flags |= VerifyFlags.VERIFY_X509_PARTIAL_CHAIN | VerifyFlags.VERIFY_X509_STRICT
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    return context


def _create_unverified_context(protocol: int | None = None, *, cert_reqs: int = 0,
                               check_hostname: bool = False, purpose: Any = Purpose.SERVER_AUTH,
                               certfile: Any = None, keyfile: Any = None, cafile: Any = None,
                               capath: Any = None, cadata: Any = None) -> SSLContext:
    """As CPython's, but the host still verifies every certificate."""
    context = SSLContext(PROTOCOL_TLS_CLIENT if protocol is None else protocol)
    context.check_hostname = check_hostname
    context.verify_mode = VerifyMode(cert_reqs)
    if certfile or keyfile:
        context.load_cert_chain(certfile, keyfile)
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    return context


_create_default_https_context = create_default_context
_create_stdlib_context = _create_unverified_context


def get_default_verify_paths() -> Any:
    return DefaultVerifyPaths(None, None, "SSL_CERT_FILE", "", "SSL_CERT_DIR", "")


def get_server_certificate(addr: tuple[str, int], ssl_version: int = 16, ca_certs: Any = None,
                           timeout: float | None = None) -> str:
    """The server's certificate in PEM (verified by the host, unlike natively)."""
    host, port = addr
    context = create_default_context()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        tls = context.wrap_socket(sock, server_hostname=host)
        try:
            return DER_cert_to_PEM_cert(tls.getpeercert(True))
        finally:
            tls.close()


PEM_HEADER = "-----BEGIN CERTIFICATE-----"
PEM_FOOTER = "-----END CERTIFICATE-----"


def DER_cert_to_PEM_cert(der_cert_bytes: bytes) -> str:
    text = base64.standard_b64encode(der_cert_bytes).decode("ascii")
    return f"{PEM_HEADER}\n{textwrap.fill(text, 64)}\n{PEM_FOOTER}\n"


def PEM_cert_to_DER_cert(pem_cert_string: str) -> bytes:
    text = pem_cert_string.strip()
    if not text.startswith(PEM_HEADER) or not text.endswith(PEM_FOOTER):
        raise ValueError(f"Invalid PEM encoding; must start with {PEM_HEADER!r} and end with "
                         f"{PEM_FOOTER!r}")
    return base64.decodebytes(text[len(PEM_HEADER):-len(PEM_FOOTER)].encode("ascii"))


def cert_time_to_seconds(cert_time: str) -> int:
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
              "Dec")
    month_name, rest = cert_time[:3], cert_time[3:]
    if month_name.title() not in months:
        raise ValueError(f"time data {cert_time!r} does not match format '%b %d %H:%M:%S %Y GMT'")
    parsed = time.strptime(f"{months.index(month_name.title()) + 1}{rest}", "%m %d %H:%M:%S %Y GMT")
    return calendar.timegm(parsed)


def RAND_bytes(n: int) -> bytes:
    return os.urandom(n)


def RAND_status() -> bool:
    return True


def RAND_add(string: Any, entropy: float) -> None:
    """Nothing to add to: randomness comes from the host (``os.urandom``)."""


def install() -> None:
    """Make ``import ssl`` give this module, and let modules that imported without ``ssl``
    (``http.client`` has no ``HTTPSConnection`` then) see it."""
    sys.modules["ssl"] = sys.modules[__name__]
    import importlib

    for name in ("http.client", "urllib.request"):
        module = sys.modules.get(name)
        if module is not None and not hasattr(module, "HTTPSConnection" if name == "http.client"
                                              else "HTTPSHandler"):
            importlib.reload(module)
