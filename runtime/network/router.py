"""The guest's network calls (``protocol.NetCall``) → the sandbox's broker → the answer bytes.

A network call is ``NET_CALL_PREFIX`` + a JSON header line + the payload (``send``). Every field
comes from guest code and is checked here before the broker sees it; a bad one is a ``value``
error, never a host exception. Blocking calls wait on the host, cut short by the guest's
wake-up event (interrupt, cell deadline): the answer is then ``{"wait": "interrupted"}`` and
the guest, calling again, meets the KeyboardInterrupt or TimeoutError at once.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import socket
import threading
from collections.abc import Callable
from typing import Any

from .. import protocol
from ..protocol import (
    NetConnectAnswer,
    NetErrorAnswer,
    NetPollAnswer,
    NetResolveAnswer,
    NetSendAnswer,
    NetTlsAnswer,
    NetWaitAnswer,
)
from . import tls
from .broker import MAX_CHUNK, NetworkBroker
from .connection import Connection, WaitOutcome
from .errors import NetworkError

log = logging.getLogger("jupyter_sandbox.network")

#: The longest header accepted (a poll of many ids stays well below it).
MAX_HEADER = 64 << 10
#: The most connection ids one poll may name.
MAX_POLL_IDS = 4096
_ANSWER_EMPTY = b"{}"


class BadCall(ValueError):
    """A malformed network call (a field missing or of the wrong type)."""


class NetworkRouter:
    """Answers network calls for one sandbox; ``wakeup()`` gives the current guest's event."""

    def __init__(self, broker: NetworkBroker, wakeup: Callable[[], threading.Event]) -> None:
        self.broker = broker
        self._wakeup = wakeup
        self._local = threading.local()  # the receive buffer of each calling thread

    def on_call(self, raw: bytes, cell: object | None) -> bytes | memoryview:
        """Answer one network call (``raw`` starts with ``NET_CALL_PREFIX``)."""
        try:
            newline = raw.find(b"\n", 1, MAX_HEADER + 1)
            if newline < 0 and len(raw) > MAX_HEADER + 1:
                raise BadCall(f"the header is longer than {MAX_HEADER} bytes")
            end = len(raw) if newline < 0 else newline
            payload = memoryview(raw)[end + 1:] if newline >= 0 else memoryview(b"")
            request = json.loads(raw[1:end].decode("utf-8", "replace"))
            if not isinstance(request, dict):
                raise BadCall("a network call's header must be a JSON object")
            if cell is not None:
                self.broker.begin(cell)
            return self._dispatch(request, payload)
        except NetworkError as exc:
            return _error(exc.kind, exc.message, exc.errno)
        except socket.gaierror as exc:
            return _error("gaierror", str(exc.strerror or exc), exc.errno)
        except TimeoutError as exc:
            return _error("timeout", str(exc) or "timed out", errno.ETIMEDOUT)
        except OSError as exc:
            return _error("os", str(exc.strerror or exc), exc.errno)
        except (BadCall, ValueError, TypeError) as exc:
            return _error("value", f"bad network call: {exc}", errno.EINVAL)

    def _dispatch(self, request: dict[str, Any], payload: memoryview) -> bytes | memoryview:
        broker = self.broker
        call = request.get("call")
        if call == "enabled":
            broker.require_enabled()
            return _ANSWER_EMPTY
        if call == "resolve":
            addresses = broker.resolve(_host(request), _port(request), self._wakeup())
            if isinstance(addresses, WaitOutcome):
                return _wait(addresses)
            answer: NetResolveAnswer = {"addresses": [(_version(a.family), a.address)
                                                      for a in addresses]}
            return protocol.encode(answer)
        if call == "connect":
            opened = broker.connect(_host(request), _port(request), _timeout(request),
                                    self._wakeup())
            if isinstance(opened, WaitOutcome):
                return _wait(opened)
            return protocol.encode(_connected(opened))
        if call == "send":
            sent = broker.send(_conn(request), payload, _timeout(request), self._wakeup())
            if isinstance(sent, WaitOutcome):
                return _wait(sent)
            answer_sent: NetSendAnswer = {"sent": sent}
            return protocol.encode(answer_sent)
        if call == "recv":
            size = _int(request, "size")
            if size < 0:
                raise BadCall("size must not be negative")
            return self._recv(_conn(request), size, _timeout(request))
        if call == "poll":
            read, write = _ids(request, "read"), _ids(request, "write")
            ready = broker.poll(read, write, _timeout(request), self._wakeup())
            if ready.outcome is not WaitOutcome.READY:
                return _wait(ready.outcome)
            answer_poll: NetPollAnswer = {"read": ready.readable, "write": ready.writable}
            return protocol.encode(answer_poll)
        if call == "shutdown":
            how = _int(request, "how")
            if how not in (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR):
                raise BadCall(f"shutdown how={how} is not SHUT_RD, SHUT_WR or SHUT_RDWR")
            broker.shutdown(_conn(request), how)
            return _ANSWER_EMPTY
        if call == "close":
            broker.close(_conn(request))
            return _ANSWER_EMPTY
        if call == "tls":
            session = tls.upgrade(broker, _conn(request), _server_hostname(request),
                                  _alpn(request), _timeout(request), self._wakeup())
            if isinstance(session, WaitOutcome):
                return _wait(session)
            answer_tls: NetTlsAnswer = session.to_json()
            return protocol.encode(answer_tls)
        raise BadCall(f"unknown network call {str(call)[:40]!r}")

    def _recv(self, conn_id: int, size: int, timeout: float | None) -> bytes | memoryview:
        """The answer to a ``recv``: the prefix and the bytes received straight after it, in
        a buffer this thread reuses (GuestInstance copies the view into the guest before the
        next call). No per-call buffer: a fresh one costs its page faults (~0.1 ms for
        256 KiB) even when a few bytes arrive, and a prefix added afterwards, a copy."""
        need = 1 + max(1, min(size, MAX_CHUNK))
        buffer: bytearray | None = getattr(self._local, "buffer", None)
        if buffer is None or len(buffer) < need:
            buffer = bytearray(need)
            buffer[:1] = protocol.NET_DATA_PREFIX
            self._local.buffer = buffer
        view = memoryview(buffer)
        received = self.broker.recv_into(conn_id, view[1:need], timeout, self._wakeup())
        if isinstance(received, WaitOutcome):
            return _wait(received)
        return view[:1 + received]


def _connected(conn: Connection) -> NetConnectAnswer:
    return {"conn": conn.id, "address": conn.record.address or "",
            "version": _version(conn.sock.family)}


def _version(family: int) -> int:
    return 6 if family == socket.AF_INET6 else 4


def _wait(outcome: WaitOutcome) -> bytes:
    answer: NetWaitAnswer = {"wait": "timeout" if outcome is WaitOutcome.TIMEOUT
                             else "interrupted"}
    return protocol.encode(answer)


def _error(kind: str, message: str, number: int | None) -> bytes:
    answer: NetErrorAnswer = {"error": message, "kind": kind, "errno": number}
    return protocol.encode(answer)


def _int(request: dict[str, Any], key: str) -> int:
    value = request.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadCall(f"{key} must be an integer")
    return value


def _conn(request: dict[str, Any]) -> int:
    return _int(request, "conn")


def _port(request: dict[str, Any]) -> int:
    port = _int(request, "port")
    if not 0 <= port < 65536:
        raise BadCall(f"port {port} is out of range")
    return port


def _host(request: dict[str, Any]) -> str:
    host = request.get("host")
    if not isinstance(host, str) or not host or len(host) > 260:
        raise BadCall("host must be a non-empty string of at most 260 characters")
    return host


def _timeout(request: dict[str, Any]) -> float | None:
    value = request.get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or value < 0:
        raise BadCall("timeout must be a non-negative number of seconds or null")
    return float(value)


def _server_hostname(request: dict[str, Any]) -> str | None:
    value = request.get("server_hostname")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 260:
        raise BadCall("server_hostname must be a string of at most 260 characters or null")
    return value


def _alpn(request: dict[str, Any]) -> list[str] | None:
    value = request.get("alpn")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > tls.MAX_ALPN or not all(
            isinstance(p, str) and 0 < len(p) < 256 for p in value):
        raise BadCall(f"alpn must be a list of at most {tls.MAX_ALPN} protocol names or null")
    return value


def _ids(request: dict[str, Any], key: str) -> list[int]:
    value = request.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_POLL_IDS or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise BadCall(f"{key} must be a list of at most {MAX_POLL_IDS} connection ids")
    return value
