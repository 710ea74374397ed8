"""The bytes a TLS connection moves on the wire beyond the plaintext the broker relays.

The host's TLS is an ``ssl.SSLSocket`` over the connection's socket: OpenSSL reads and writes
that socket itself, so the handshake (hellos, a certificate chain of any length), session
tickets and record framing never pass through the broker's own reads and writes. Left
uncounted, a server could make the host read an endless handshake bounded only by timeouts.
The kernel counts them: Linux's ``TCP_INFO`` gives the bytes a socket sent and received, and
``SIOCINQ`` how many received ones are still unread, so (received - unread) is what OpenSSL
consumed. ``TlsWireAccount`` turns those counters into what the broker has not counted yet:

* while the handshake runs, every byte both ways;
* afterwards, the received bytes beyond the plaintext the guest got (framing, tickets,
  whatever else the server sends). Sent overhead is not counted after the handshake: with
  injected headers (``header_injection.py``) it would show the length of the administrator's
  secret in the audit, and the guest's own bytes are counted as they are sent.

Where the kernel does not say (not Linux), ``counters`` is None and nothing extra is counted;
OpenSSL's own bounds (a certificate list of at most 100 KiB, a few warning alerts or empty
records in a row) and the connect timeout still bound a handshake.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
import termios

log = logging.getLogger("jupyter_sandbox.network")

_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)
_SIOCINQ: int | None = getattr(termios, "FIONREAD", None)
#: Offsets in Linux's ``struct tcp_info`` (include/uapi/linux/tcp.h): tcpi_bytes_acked and
#: tcpi_bytes_received (Linux 4.1), tcpi_bytes_sent (4.19).
_BYTES_ACKED = 120
_BYTES_RECEIVED = 128
_BYTES_SENT = 200
_INFO_SIZE = 256


def counters(sock: socket.socket) -> tuple[int, int] | None:
    """(bytes sent, bytes received and read by this process) of a TCP socket since it was
    opened, from the kernel; None where it does not tell."""
    if _TCP_INFO is None or _SIOCINQ is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _INFO_SIZE)
        unread = struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCINQ, b"\0\0\0\0"))[0]
    except OSError as exc:  # a closed socket, a kernel without the fields
        log.debug("TCP counters unavailable: %s", exc)
        return None
    if len(info) < _BYTES_RECEIVED + 8:
        return None
    (received,) = struct.unpack_from("=Q", info, _BYTES_RECEIVED)
    if len(info) >= _BYTES_SENT + 8:
        (sent,) = struct.unpack_from("=Q", info, _BYTES_SENT)
    else:  # older kernels: what the peer acknowledged (one more, for the SYN)
        (acked,) = struct.unpack_from("=Q", info, _BYTES_ACKED)
        sent = max(0, acked - 1)
    return sent, max(0, received - unread)


class TlsWireAccount:
    """One TLS connection's wire bytes since its upgrade began, and how many of them the
    broker has counted (``uncounted`` hands out each byte once)."""

    def __init__(self, sock: socket.socket) -> None:
        self._start = counters(sock)
        self.plaintext_received = 0  # what the broker's reads relayed since the upgrade
        self._charged_sent = 0
        self._charged_received = 0

    def uncounted(self, sock: socket.socket, handshaking: bool) -> tuple[int, int]:
        """(sent, received) wire bytes not counted yet: both ways while ``handshaking``,
        then only received ones beyond ``plaintext_received``."""
        now = counters(sock) if self._start is not None else None
        if now is None or self._start is None:
            return 0, 0
        sent = now[0] - self._start[0]
        received = now[1] - self._start[1]
        new_sent = max(0, sent - self._charged_sent) if handshaking else 0
        new_received = max(0, received - self.plaintext_received - self._charged_received)
        self._charged_sent += new_sent
        self._charged_received += new_received
        return new_sent, new_received
