"""The guest's side of the host's network broker (see the host's ``protocol.py``, "Network
calls"): one ``_host.call`` per operation, bytes unencoded, errors turned into the exceptions
native code would raise (``PermissionError`` for the policy, ``ConnectionResetError`` for a
connection a snapshot restore dropped, ``socket.gaierror``, ``TimeoutError``...)."""

from __future__ import annotations

import errno
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import _host

CALL_PREFIX = b"N"
DATA_PREFIX = b"D"


class NetworkLimitError(OSError):
    """The network policy's connection or byte limit was reached (the host closed the
    connection); the message names the limit."""


Answer = dict[str, Any]
#: Error kinds of other modules → the exception (``ssl_shim``: ``cert``, ``ssl``).
ERROR_KINDS: dict[str, Callable[[str, int | None], OSError]] = {}


def call(header: dict[str, Any], payload: bytes | memoryview = b"") -> Answer | memoryview:
    """One network call: the answer's fields, or the bytes of a ``recv`` (a view into the
    answer, so they are not copied once more); raises the error."""
    request = CALL_PREFIX + json.dumps(header, separators=(",", ":")).encode() + b"\n"
    if payload:
        request += payload
    raw = _host.call(request)
    if raw[:1] == DATA_PREFIX:
        return memoryview(raw)[1:]
    answer = json.loads(raw) if raw else {}
    if "error" in answer:
        raise error(answer)
    return answer


def waiting(header: dict[str, Any], timeout: float | None,
            payload: bytes | memoryview = b"") -> Answer | memoryview | None:
    """A call that may wait on the host, up to ``timeout`` seconds (None: no limit). The host
    returns early when an interrupt or the cell's deadline wakes it; calling again here lets
    the KeyboardInterrupt / TimeoutError land between the calls. None: the timeout passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        header["timeout"] = None if deadline is None else max(0.0, deadline - time.monotonic())
        answer = call(header, payload)
        if isinstance(answer, dict) and "wait" in answer:
            if answer["wait"] == "timeout":
                return None
            continue  # interrupted: the signal handler raises here, or it was stale
        return answer


def fields(answer: Answer | memoryview | None) -> Answer:
    """An answer that must be a JSON object (a host that broke the protocol: OSError)."""
    if not isinstance(answer, dict):
        raise OSError(errno.EPROTO, "the host's network broker sent an unexpected answer")
    return answer


def data_view(answer: Answer | memoryview | None) -> memoryview:
    """An answer that must be received bytes (a view into the host's answer)."""
    if not isinstance(answer, memoryview):
        raise OSError(errno.EPROTO, "the host's network broker sent an unexpected answer")
    return answer


def error(answer: Answer) -> OSError:
    """The exception for an error answer. The broker's own errors read as their message alone
    (with ``errno`` set); a failed connect or send is the ``OSError`` CPython would raise."""
    message = str(answer.get("error") or "network call failed")
    kind = answer.get("kind")
    number = answer.get("errno")
    if kind in ERROR_KINDS:  # ssl's errors (the ssl shim registers them)
        return ERROR_KINDS[str(kind)](message, number if isinstance(number, int) else None)
    if kind == "gaierror":
        again = number == -3  # the host's EAI_AGAIN (temporary failure); else not found
        return socket.gaierror(socket.EAI_AGAIN if again else socket.EAI_NONAME, message)
    if kind == "timeout":
        return TimeoutError(message)
    own: dict[str, tuple[type[OSError], int]] = {
        "disabled": (PermissionError, errno.EACCES),
        "refused": (PermissionError, errno.EACCES),
        "limit": (NetworkLimitError, errno.EDQUOT),
        "lost": (ConnectionResetError, errno.ECONNRESET),
        "value": (OSError, errno.EINVAL)}
    if kind in own:
        cls, code = own[str(kind)]
        exc = cls(message)
        exc.errno = code
        return exc
    if isinstance(number, int):
        return OSError(_guest_errno(number), message)  # ConnectionRefusedError etc.
    return OSError(message)


#: Host (Linux) errno values → the guest's (WASI numbers them differently).
_LINUX_ERRNO = {111: "ECONNREFUSED", 104: "ECONNRESET", 110: "ETIMEDOUT", 113: "EHOSTUNREACH",
                101: "ENETUNREACH", 32: "EPIPE", 107: "ENOTCONN", 103: "ECONNABORTED",
                22: "EINVAL", 13: "EACCES", 99: "EADDRNOTAVAIL", 122: "EDQUOT"}


def _guest_errno(number: int) -> int:
    name = _LINUX_ERRNO.get(number)
    return getattr(errno, name, number) if name else number
