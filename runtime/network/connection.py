"""One brokered TCP connection: a non-blocking host socket the guest reads and writes through
the broker, one bounded chunk per call (nothing is buffered on the host beyond the chunk in
hand), and waits that end on the guest's wake-up (interrupt, cell deadline) as well as on
readiness or the timeout.

TLS (``tls.py``) upgrades a connection by replacing ``sock`` with an ``ssl.SSLSocket`` wrapping
it; the reads and waits here account for the bytes such a socket already holds decrypted.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .header_injection import RequestRewriter
    from .wire_bytes import TlsWireAccount

log = logging.getLogger("jupyter_sandbox.network")
#: How long one wait sleeps before it looks at the wake-up event again (interrupt latency).
WAIT_SLICE = 0.05


class WaitOutcome(Enum):
    READY = "ready"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"


def wait_for(sockets: dict[int, tuple[socket.socket, int]], timeout: float | None,
             wakeup: threading.Event) -> tuple[WaitOutcome, dict[int, int]]:
    """Wait until one of ``sockets`` (key → (socket, selectors.EVENT_* mask)) is ready, the
    timeout passes (None: no limit) or ``wakeup`` is set. Returns the outcome and, when
    ready, key → the events that are ready."""
    ready: dict[int, int] = {}
    for key, (sock, events) in sockets.items():
        if events & selectors.EVENT_READ and _holds_decrypted(sock):
            ready[key] = selectors.EVENT_READ
    if ready:
        return WaitOutcome.READY, ready
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    with selectors.DefaultSelector() as selector:
        for key, (sock, events) in sockets.items():
            selector.register(sock, events, key)
        while True:
            woken = wakeup.is_set()  # then only look: what is ready still counts
            remaining = None if deadline is None else deadline - time.monotonic()
            slice_ = WAIT_SLICE if remaining is None else max(0.0, min(remaining, WAIT_SLICE))
            for selected, events in selector.select(0 if woken else slice_):
                ready[selected.data] = ready.get(selected.data, 0) | events
            if ready:
                return WaitOutcome.READY, ready
            if woken or wakeup.is_set():
                return WaitOutcome.INTERRUPTED, {}
            if remaining is not None and remaining <= 0:
                return WaitOutcome.TIMEOUT, {}


def _wanted(exc: OSError, usual: int) -> int:
    """What to wait for after a would-block: TLS may need the other direction first (a
    write that must read a TLS record, a read that must write one)."""
    if isinstance(exc, ssl.SSLWantReadError):
        return selectors.EVENT_READ
    if isinstance(exc, ssl.SSLWantWriteError):
        return selectors.EVENT_WRITE
    return usual


def _holds_decrypted(sock: socket.socket) -> bool:
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


@dataclass
class ConnectionRecord:
    """One connection attempt, as the audit keeps it (``to_json`` for the status route)."""

    host: str
    address: str | None
    port: int
    allowed: bool
    reason: str
    bytes_sent: int = 0
    bytes_received: int = 0
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    tls: bool = False
    #: The host name the certificate was verified for (``tls.py``), when ``tls``.
    tls_peer: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"host": self.host, "address": self.address, "port": self.port,
                "allowed": self.allowed, "reason": self.reason,
                "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
                "started_at": self.started_at, "ended_at": self.ended_at, "tls": self.tls,
                "tls_peer": self.tls_peer}


class Connection:
    """An open connection. ``sock`` is the host socket (non-blocking), public for ``tls.py``."""

    def __init__(self, conn_id: int, sock: socket.socket, record: ConnectionRecord) -> None:
        self.id = conn_id
        self.sock = sock
        self.record = record
        self.closed = False
        #: Rewrites request heads for a host with injected headers (``header_injection.py``).
        self.rewriter: RequestRewriter | None = None
        #: A TLS handshake was started and has not finished (``tls.py`` resumes it).
        self.tls_handshaking = False
        #: The wire bytes OpenSSL moves itself, once ``tls.py`` upgrades the connection.
        self.wire: TlsWireAccount | None = None

    @classmethod
    def open(cls, conn_id: int, family: int, address: str, port: int, timeout: float,
             wakeup: threading.Event, record: ConnectionRecord) -> Connection | WaitOutcome:
        """Connect to exactly ``address`` (never a name: no second resolution). Returns the
        connection, or TIMEOUT / INTERRUPTED; raises ``OSError`` when the connect fails."""
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            status = sock.connect_ex((address, port))
            if status not in (0, errno.EINPROGRESS):
                raise OSError(status, os.strerror(status))
            if status != 0:
                outcome, _ = wait_for({0: (sock, selectors.EVENT_WRITE)}, timeout, wakeup)
                if outcome is not WaitOutcome.READY:
                    sock.close()
                    return outcome
                status = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if status != 0:
                    raise OSError(status, os.strerror(status))
        except BaseException:
            sock.close()
            raise
        return cls(conn_id, sock, record)

    def send(self, data: bytes | memoryview, timeout: float | None,
             wakeup: threading.Event) -> int | WaitOutcome:
        """Send as much of ``data`` as the peer takes before ``timeout`` (at least one byte,
        or the outcome that stopped the wait): ``socket.send`` semantics. With a rewriter,
        request heads go out rewritten (``header_injection.py``)."""
        self._check_handshake()
        if self.rewriter is not None:
            result = self._send_rewritten(self.rewriter, memoryview(data), timeout, wakeup)
        else:
            result = self._send_raw(data, timeout, wakeup)
        if isinstance(result, int):  # the guest's bytes (not the injected ones: no secret's
            self.record.bytes_sent += result  # length shows in the audit)
        return result

    def _send_rewritten(self, rewriter: RequestRewriter, view: memoryview,
                        timeout: float | None, wakeup: threading.Event) -> int | WaitOutcome:
        """Framing bytes are taken into the rewriter and go out in their rewritten form (held
        in ``rewriter.output`` until sent, before anything later); body bytes go as they are.
        Returns how many of the guest's bytes were taken."""
        flushed = self.flush(timeout, wakeup)
        if flushed is not WaitOutcome.READY:
            return flushed
        taken = 0
        while taken < len(view):
            step = rewriter.step(view[taken:])
            if step.framing:
                taken += step.framing
                if rewriter.output and self.flush(
                        timeout if taken == step.framing else 0.0, wakeup) is not WaitOutcome.READY:
                    break  # taken: the rest of the output goes before the next bytes
                continue
            sent = self._send_raw(view[taken:taken + step.body],
                                  timeout if taken == 0 else 0.0, wakeup)
            if isinstance(sent, WaitOutcome):
                if taken:
                    break
                return sent
            rewriter.sent_body(sent)
            taken += sent
            if sent < step.body:
                break
        return taken

    def flush(self, timeout: float | None, wakeup: threading.Event) -> WaitOutcome:
        """Send the rewritten bytes still held (READY once none are left)."""
        rewriter = self.rewriter
        while rewriter is not None and rewriter.output:
            sent = self._send_raw(rewriter.output, timeout, wakeup)
            if isinstance(sent, WaitOutcome):
                return sent
            del rewriter.output[:sent]
        return WaitOutcome.READY

    def _send_raw(self, data: bytes | memoryview | bytearray, timeout: float | None,
                  wakeup: threading.Event) -> int | WaitOutcome:
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            try:
                count = self.sock.send(view[sent:])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError) as exc:
                if sent:
                    break
                outcome, _ = wait_for({0: (self.sock, _wanted(exc, selectors.EVENT_WRITE))},
                                      timeout, wakeup)
                if outcome is not WaitOutcome.READY:
                    return outcome
                continue
            sent += count
        return sent

    def recv(self, size: int, timeout: float | None,
             wakeup: threading.Event) -> bytes | WaitOutcome:
        """Up to ``size`` bytes: waits for the first, then takes what is already there;
        ``b""`` at the end of the stream."""
        out = bytearray(size)
        result = self.recv_into(memoryview(out), timeout, wakeup)
        return result if isinstance(result, WaitOutcome) else bytes(out[:result])

    def recv_into(self, view: memoryview, timeout: float | None,
                  wakeup: threading.Event) -> int | WaitOutcome:
        """Up to ``len(view)`` bytes received straight into ``view``: waits for the first,
        then takes what is already there. Returns how many (0: the end of the stream)."""
        self._check_handshake()
        if self.rewriter is not None and self.rewriter.output:
            flushed = self.flush(timeout, wakeup)  # the request goes out before its answer
            if flushed is not WaitOutcome.READY:
                return flushed
        size = len(view)
        while True:
            try:
                have = self.sock.recv_into(view, size)
                break
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError) as exc:
                outcome, _ = wait_for({0: (self.sock, _wanted(exc, selectors.EVENT_READ))},
                                      timeout, wakeup)
                if outcome is not WaitOutcome.READY:
                    return outcome
        while 0 < have < size:
            try:
                more = self.sock.recv_into(view[have:], size - have)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not more:
                break
            have += more
        self.record.bytes_received += have
        return have

    def _check_handshake(self) -> None:
        """No bytes while a TLS handshake ``tls.py`` started is unfinished (OpenSSL would
        finish it inside the read or write, outside the host's checks and audit)."""
        if self.tls_handshaking:
            raise OSError(errno.ENOTCONN, "the TLS handshake on this connection has not "
                          "finished; complete it (SSLSocket.do_handshake()) or open a new "
                          "connection")

    def shutdown(self, how: int) -> None:
        # The plain socket's shutdown, also under TLS: SSLSocket.shutdown drops its TLS state,
        # and later reads would hand the guest the raw ciphertext.
        socket.socket.shutdown(self.sock, how)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.record.ended_at = time.time()
        try:
            self.sock.close()
        except OSError as exc:  # closing never fails the guest's close
            log.debug("closing brokered connection %s: %s", self.id, exc)


