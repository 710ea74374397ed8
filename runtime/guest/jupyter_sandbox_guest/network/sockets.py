"""``socket.socket`` for the sandbox: a TCP socket whose connection lives on the host.

A ``BrokeredSocket`` holds a connection id the host's broker gave it; each operation is one
host call (``host_calls``). Timeouts and non-blocking mode behave as CPython's: ``None`` waits
(until an interrupt or the cell's deadline, which always cut a wait), ``0.0`` raises
``BlockingIOError`` instead of waiting, a number raises ``TimeoutError`` when it passes.
``fileno()`` is a number no real file has, which the patched ``select``/``poll``/``selectors``
recognise (``selecting``).

Only what a client needs exists: no ``bind``/``listen``/``accept`` (apps are served through
previews, ``jupyter_sandbox.serve``), no UDP, no Unix sockets. The TLS shim upgrades a
connected socket through its ``connection_id``.
"""

from __future__ import annotations

import errno
import ipaddress
import itertools
import socket
import time
from typing import Any

from . import host_calls

_real_socket = socket.socket
#: The most one ``send`` hands the host (the host's request limit is above it).
MAX_SEND = 512 << 10
#: The most one ``recv`` asks for (the host's chunk limit).
MAX_RECV = 4 << 20
#: The least one ``recv`` asks the host for at first; the rest waits in the socket for the
#: next read. Each answer that fills the whole request doubles it, up to ``MAX_READ_AHEAD``
#: (a fast stream then costs one host call per MiB, not one per 64 KiB read).
READ_AHEAD = 256 << 10
MAX_READ_AHEAD = 1 << 20
#: ``socket.MSG_PEEK`` as a plain int (``flags & MSG_PEEK`` on the IntFlag costs an enum
#: operation per read).
_MSG_PEEK = int(getattr(socket, "MSG_PEEK", 2))
_EMPTY = memoryview(b"")
#: Brokered sockets' file numbers start here, far from the guest's real fds.
FD_BASE = 1 << 24
_fds = itertools.count(FD_BASE)
#: fileno → the open brokered socket (for select/poll).
open_sockets: dict[int, BrokeredSocket] = {}
#: ``create_connection``'s "no timeout given" marker (private in typeshed).
_DEFAULT_TIMEOUT: Any = getattr(socket, "_GLOBAL_DEFAULT_TIMEOUT")  # noqa: B009
_SOCK_FLAGS = getattr(socket, "SOCK_NONBLOCK", 0) | getattr(socket, "SOCK_CLOEXEC", 0)
_NO_SERVER = ("a sandbox cannot {what}: it has no socket of its own, only outgoing TCP "
              "connections brokered by the host. To serve a web app, use "
              "jupyter_sandbox.serve(app) (a preview URL).")


def _unsupported(what: str) -> OSError:
    return OSError(errno.EOPNOTSUPP, _NO_SERVER.format(what=what))


class BrokeredSocket:
    """A TCP client socket (``AF_INET``/``AF_INET6``, ``SOCK_STREAM``) brokered by the host."""

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1,
                 fileno: int | None = None) -> None:
        if fileno is not None:
            raise _unsupported("wrap an existing file descriptor as a socket")
        family = socket.AF_INET if family == -1 else family
        kind = socket.SOCK_STREAM if type == -1 else type & ~_SOCK_FLAGS
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise OSError(errno.EAFNOSUPPORT, "only AF_INET and AF_INET6 sockets exist in the "
                          "sandbox (TCP connections brokered by the host)")
        if kind != socket.SOCK_STREAM:
            raise OSError(errno.EPROTONOSUPPORT, "only TCP (SOCK_STREAM) sockets exist in the "
                          "sandbox: the host brokers TCP connections, not UDP or raw sockets")
        host_calls.call({"call": "enabled"})  # PermissionError naming the trait when off
        self._family = socket.AddressFamily(family)
        self._type = socket.SocketKind(kind)
        self.proto = 0 if proto == -1 else proto
        self._timeout: float | None = socket.getdefaulttimeout()
        if type != -1 and type & getattr(socket, "SOCK_NONBLOCK", 0):
            self._timeout = 0.0
        self.connection_id: int | None = None
        self._peer: tuple[Any, ...] | None = None
        # The host's last answer (a view, without its prefix), returned from _offset on.
        self._buffered = _EMPTY
        self._offset = 0
        self._read_ahead = READ_AHEAD
        self._fileno = next(_fds)
        self._closed = False  # close() was called (the connection may live on for makefile)
        self._released = False  # the connection is closed
        self._io_refs = 0
        open_sockets[self._fileno] = self

    # -- what it is -----------------------------------------------------------------------
    @property
    def family(self) -> socket.AddressFamily:
        return self._family

    @property
    def type(self) -> socket.SocketKind:
        return self._type

    def fileno(self) -> int:
        return -1 if self._released else self._fileno

    def __repr__(self) -> str:
        state = "closed" if self._released else (f"peer={self._peer}" if self._peer else "new")
        return (f"<BrokeredSocket fd={self.fileno()} family={self._family.name} "
                f"type={self._type.name} {state}>")

    def __enter__(self) -> BrokeredSocket:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_released", True):
            try:
                self._real_close()
            except Exception:  # noqa: BLE001 - nothing to report to at collection time
                return

    # -- timeouts -------------------------------------------------------------------------
    def settimeout(self, value: float | None) -> None:
        if value is not None:
            value = float(value)
            if value < 0:
                raise ValueError("Timeout value out of range")
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    # -- connecting -----------------------------------------------------------------------
    def connect(self, address: tuple[Any, ...]) -> None:
        self._check_open()
        if self.connection_id is not None:
            raise OSError(errno.EISCONN, "the socket is already connected")
        host, port = _split_address(address)
        # A non-blocking socket connects at once here (the host bounds the wait by the
        # policy's connect_timeout, interrupts cut it) instead of EINPROGRESS: select then
        # finds it writable at once, as after a fast native connect.
        wait = None if self._timeout == 0.0 else self._timeout
        answer = host_calls.waiting({"call": "connect", "host": host, "port": port}, wait)
        if answer is None:
            raise TimeoutError("timed out")
        answer = host_calls.fields(answer)
        self.connection_id = int(answer["conn"])
        if int(answer.get("version", 4)) == 6:
            self._peer = (str(answer["address"]), port, 0, 0)
        else:
            self._peer = (str(answer["address"]), port)

    def connect_ex(self, address: tuple[Any, ...]) -> int:
        """``connect`` returning the error number; a policy refusal still raises, so its
        reason is not lost."""
        try:
            self.connect(address)
        except PermissionError:
            raise
        except OSError as exc:
            return exc.errno or errno.EIO
        return 0

    def getpeername(self) -> tuple[Any, ...]:
        self._check_open()
        if self._peer is None:
            raise OSError(errno.ENOTCONN, "the socket is not connected")
        return self._peer

    def getsockname(self) -> tuple[Any, ...]:
        self._check_open()
        return ("::", 0, 0, 0) if self._family == socket.AF_INET6 else ("0.0.0.0", 0)

    # -- data -----------------------------------------------------------------------------
    def send(self, data: Any, flags: int = 0) -> int:
        view = memoryview(data).cast("B")
        conn = self._connected()
        if not len(view):
            return 0
        answer = host_calls.waiting({"call": "send", "conn": conn}, self._timeout,
                                    view[:MAX_SEND])
        if answer is None:
            raise self._would_block()
        return int(host_calls.fields(answer)["sent"])

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        deadline = None if not self._timeout else time.monotonic() + self._timeout
        sent = 0
        while sent < len(view):
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("timed out")
            sent += self.send(view[sent:], flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to ``bufsize`` bytes. Each host call asks for at least the read-ahead and keeps
        what it did not return (``pending_bytes``): small reads (a line parser, a 64 KiB
        loop) then cost one host call per read-ahead, not one each."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if self._offset >= len(self._buffered):
            if bufsize == 0:
                self._connected()
                return b""
            if not self._fill(bufsize):
                return b""
        start = self._offset
        data = bytes(self._buffered[start:start + bufsize])
        if not flags & _MSG_PEEK:
            self._consumed(start + len(data))
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """As ``recv``, copying straight from the host's answer into ``buffer`` (one copy;
        ``BufferedReader``/``SocketIO`` read through here)."""
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        size = min(nbytes or len(view), len(view))
        if self._offset >= len(self._buffered):
            if size == 0:
                self._connected()
                return 0
            if not self._fill(size):
                return 0
        start = self._offset
        chunk = self._buffered[start:start + size]
        count = len(chunk)
        view[:count] = chunk
        if not flags & _MSG_PEEK:
            self._consumed(start + count)
        return count

    def _fill(self, wanted: int) -> bool:
        """One host ``recv`` of at least ``wanted`` bytes (and the read-ahead) into the
        socket's buffer; False at the end of the stream."""
        conn = self._connected()
        asked = min(max(wanted, self._read_ahead), MAX_RECV)
        answer = host_calls.waiting({"call": "recv", "conn": conn, "size": asked},
                                    self._timeout)
        if answer is None:
            raise self._would_block()
        received = host_calls.data_view(answer)
        if len(received) >= asked and self._read_ahead < MAX_READ_AHEAD:
            self._read_ahead = min(self._read_ahead * 2, MAX_READ_AHEAD)
        self._buffered, self._offset = received, 0
        return bool(len(received))

    def _consumed(self, offset: int) -> None:
        if offset >= len(self._buffered):
            self._buffered, self._offset = _EMPTY, 0  # the answer's memory can go
        else:
            self._offset = offset

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        return self.recv(bufsize, flags), self._peer

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        return self.recv_into(buffer, nbytes, flags), self._peer

    def sendto(self, data: Any, *args: Any) -> int:
        return self.send(data)

    def pending_bytes(self) -> int:
        """Bytes already read from the host and not yet returned (read ahead or peeked); a
        TLS upgrade must find none."""
        return len(self._buffered) - self._offset

    # -- ending ---------------------------------------------------------------------------
    def shutdown(self, how: int) -> None:
        host_calls.call({"call": "shutdown", "conn": self._connected(), "how": how})

    def close(self) -> None:
        """As CPython's: the connection closes once no ``makefile`` object uses it."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self) -> None:
        self._closed = self._released = True
        open_sockets.pop(self._fileno, None)
        conn, self.connection_id = self.connection_id, None
        if conn is not None:
            host_calls.call({"call": "close", "conn": conn})

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self._real_close()

    def detach(self) -> int:
        raise _unsupported("detach a socket into a file descriptor")

    def dup(self) -> BrokeredSocket:
        raise _unsupported("duplicate a socket")

    # -- servers: not in a sandbox ----------------------------------------------------------
    def bind(self, address: Any) -> None:
        raise _unsupported("bind a socket to a local address")

    def listen(self, backlog: int = 0) -> None:
        raise _unsupported("listen for connections")

    def accept(self) -> Any:
        raise _unsupported("accept connections")

    # -- options: the host's socket has its own ---------------------------------------------
    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        """Accepted and ignored: the host sets TCP_NODELAY itself; keep-alive, buffer sizes
        and reuse flags have no effect on a brokered connection."""
        self._check_open()

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        self._check_open()
        return b"\0" * buflen if buflen else 0

    # -- helpers ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._released:
            raise OSError(errno.EBADF, "Bad file descriptor")

    def _connected(self) -> int:
        self._check_open()
        if self.connection_id is None:
            raise OSError(errno.ENOTCONN, "the socket is not connected")
        return self.connection_id

    def _would_block(self) -> OSError:
        if self._timeout == 0.0:
            return BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return TimeoutError("timed out")

    makefile = _real_socket.makefile


def _split_address(address: Any) -> tuple[str, int]:
    if not isinstance(address, tuple) or len(address) < 2:
        raise TypeError("a socket address is a (host, port) tuple")
    host, port = address[0], address[1]
    if isinstance(host, bytes):
        host = host.decode("idna")
    if not isinstance(host, str) or not isinstance(port, int) or isinstance(port, bool):
        raise TypeError("a socket address is a (host: str, port: int) tuple")
    if not 0 <= port < 65536:
        raise OverflowError("connect(): port must be 0-65535.")
    return host or "127.0.0.1", port


def create_connection(address: tuple[Any, ...], timeout: Any = _DEFAULT_TIMEOUT,
                      source_address: Any = None, *, all_errors: bool = False) -> BrokeredSocket:
    """As ``socket.create_connection``, but the host resolves the name and tries its
    addresses (one call), so the audit and the policy see the name."""
    host, port = _split_address(tuple(address))
    if source_address is not None:
        raise _unsupported("choose the source address of a connection")
    literal = _literal(host)
    family = socket.AF_INET6 if literal is not None and literal.version == 6 else socket.AF_INET
    sock = BrokeredSocket(family, socket.SOCK_STREAM)
    try:
        if timeout is not _DEFAULT_TIMEOUT:
            sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    if sock._peer is not None and len(sock._peer) == 4:
        sock._family = socket.AddressFamily.AF_INET6
    return sock


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


_SERVICES = {"http": 80, "https": 443, "ftp": 21, "ssh": 22, "smtp": 25, "imap": 143,
             "imaps": 993, "pop3": 110, "submission": 587, "ldap": 389, "ldaps": 636}


def _port_of(port: Any) -> int:
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode()
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        if port in _SERVICES:
            return _SERVICES[port]
        raise socket.gaierror(socket.EAI_SERVICE, "Servname not supported for ai_socktype")
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    raise OSError("Int or String expected")


def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                flags: int = 0) -> list[tuple[Any, ...]]:
    """Addresses of ``host`` as the host's resolver gives them, only those the network
    policy allows (none allowed: ``PermissionError`` with the reason). Address literals
    resolve here, without asking the host."""
    number = _port_of(port)
    if isinstance(host, bytes):
        host = host.decode("idna")
    if host is None:
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    literal = _literal(str(host))
    if literal is not None:
        found: list[tuple[int, str]] = [(literal.version, str(literal))]
    elif flags & getattr(socket, "AI_NUMERICHOST", 4):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    else:
        answer = host_calls.fields(host_calls.waiting(  # a slow lookup stays interruptible
            {"call": "resolve", "host": str(host), "port": number}, None))
        found = [(int(v), str(a)) for v, a in answer.get("addresses", [])]
    kinds = [socket.SOCK_STREAM] if type in (0, socket.SOCK_STREAM) else [type]
    result = []
    for version, address in found:
        fam = socket.AF_INET6 if version == 6 else socket.AF_INET
        if family not in (0, socket.AF_UNSPEC, fam):
            continue
        sockaddr: tuple[Any, ...] = (address, number, 0, 0) if version == 6 else (address, number)
        for kind in kinds:
            result.append((socket.AddressFamily(fam), socket.SocketKind(kind),
                           proto or socket.IPPROTO_TCP, "", sockaddr))
    if not result:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return result


def gethostbyname(host: str) -> str:
    return str(getaddrinfo(host, None, socket.AF_INET)[0][4][0])


def gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
    addresses = [entry[4][0] for entry in getaddrinfo(host, None, socket.AF_INET)]
    return host, [], list(dict.fromkeys(addresses))


#: Options some clients set that the guest's socket module lacks (Linux values; ignored).
_MISSING_CONSTANTS = {"SO_ERROR": 4, "SO_KEEPALIVE": 9, "SO_REUSEADDR": 2, "SO_RCVBUF": 8,
                      "SO_SNDBUF": 7, "MSG_DONTWAIT": 64}


def install() -> None:
    """Replace the socket module's client API with the brokered one."""
    for name, value in _MISSING_CONSTANTS.items():
        if not hasattr(socket, name):
            setattr(socket, name, value)
    socket.socket = BrokeredSocket  # type: ignore[misc, assignment]
    socket.create_connection = create_connection  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex
    socket.has_ipv6 = True
