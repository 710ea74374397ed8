"""The network broker of one sandbox: the policy in force, the open connections (the guest
knows them only by id) and the audit of every attempt.

The guest has no socket. It asks the broker to resolve a name, to connect, to send and receive
on a connection id; every answer comes from here, after the policy (``policy.py``) said yes:

* ``check_name`` before anything is resolved, so a refused name is never even looked up;
* ``check_address`` on every address a name resolved to, at connect time, and the connect
  goes to exactly the address that was checked (no second resolution): a name that resolves
  to a private address, or a redirect to an internal one, is refused here, whatever the DNS
  says later;
* an address the guest got from ``resolve`` and connects to by number is checked again, as
  the name it came from (``_names``), so ``allow = ["example.com"]`` works for code that
  resolves first and connects to the address (``socket.create_connection``, urllib3).

Limits: open connections per sandbox, bytes per cell and per sandbox (both directions). The
audit keeps the last ``AUDIT_SIZE`` attempts (``status()``) and logs each one.
"""

from __future__ import annotations

import concurrent.futures
import errno
import itertools
import logging
import secrets
import selectors
import socket
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from .audit_log import AuditLog
from .connection import WAIT_SLICE, Connection, ConnectionRecord, WaitOutcome, wait_for
from .errors import (
    ConnectionLostError,
    NetworkDisabledError,
    NetworkLimitError,
    NetworkRefusedError,
)
from .header_injection import RequestRefusedError, rewriter_for
from .policy import Decision, NetworkPolicy, check_address, check_name
from .resolver import ResolvedAddress, Resolver, SystemResolver, literal_address

#: Rate-limited per sandbox: a guest looping over connects cannot flood the kernel log.
log = AuditLog(logging.getLogger("jupyter_sandbox.network"))

#: Attempts kept for ``status()`` (the newest).
AUDIT_SIZE = 100
#: Addresses remembered with the names they were resolved for.
NAMES_SIZE = 4096
#: The most one ``recv`` or ``send`` moves (the guest asks again for more).
MAX_CHUNK = 4 << 20


@dataclass(frozen=True)
class Readiness:
    """The answer to ``poll``: which connection ids are ready to read and to write."""

    outcome: WaitOutcome
    readable: list[int]
    writable: list[int]


class NetworkBroker:
    """Per sandbox. Every method may be called from any thread; waits hold no lock."""

    def __init__(self, policy: NetworkPolicy, resolver: Resolver | None = None,
                 label: str = "sandbox") -> None:
        self._policy = policy
        #: Replace to resolve names differently (tests: ``resolver.StaticResolver``).
        self.resolver: Resolver = resolver or SystemResolver()
        self._label = label
        self._lock = threading.Lock()
        self._connections: dict[int, Connection] = {}
        # Ids are not reused and do not start at 1, so an id held by a guest restored from
        # another sandbox's snapshot (a fork) names nothing here.
        self._ids = itertools.count(secrets.randbelow(1 << 40) + 1)
        self._audit: deque[ConnectionRecord] = deque(maxlen=AUDIT_SIZE)
        self._names: OrderedDict[str, list[str]] = OrderedDict()
        self._sandbox_bytes = 0
        self._cell_bytes = 0
        self._cell: object | None = None

    # -- policy -----------------------------------------------------------------------------
    @property
    def policy(self) -> NetworkPolicy:
        return self._policy

    def set_policy(self, policy: NetworkPolicy) -> None:
        """Applies from the next connection; open ones keep going."""
        self._policy = policy
        log.info("%s: network policy now %s", self._label, policy.to_json())

    def begin(self, cell: object) -> None:
        """Called with the operation in progress before each request: a new one starts the
        per-cell byte count again."""
        if cell is not self._cell:
            self._cell = cell
            self._cell_bytes = 0

    def require_enabled(self) -> None:
        if not self._policy.enabled:
            raise NetworkDisabledError()

    # -- resolving and connecting ----------------------------------------------------------
    def resolve(self, host: str, port: int,
                wakeup: threading.Event | None = None) -> list[ResolvedAddress] | WaitOutcome:
        """The addresses of ``host`` the policy allows (refused ones are not revealed); raises
        ``NetworkRefusedError`` when it allows none, ``socket.gaierror`` for an unknown name
        or one that takes longer than the policy's ``connect_timeout`` to resolve.
        INTERRUPTED when ``wakeup`` is set first (the lookup runs on a resolver thread)."""
        policy = self._policy
        self._check_enabled(policy, host, port)
        self._check(check_name(policy, host, port), host, None, port)
        addresses = self._lookup(host, port, wakeup, time.monotonic() + policy.connect_timeout)
        if isinstance(addresses, WaitOutcome):
            return addresses
        allowed, refusal = [], None
        for address in addresses:
            decision = check_address(policy, host, address.address, port)
            if decision.allowed:
                allowed.append(address)
            elif refusal is None:
                refusal = (address.address, decision)
        if not allowed and refusal is not None:
            self._check(refusal[1], host, refusal[0], port)
        with self._lock:
            for address in allowed:
                names = self._names.pop(address.address, [])
                if host not in names:
                    names.append(host)
                self._names[address.address] = names[-8:]
            while len(self._names) > NAMES_SIZE:
                self._names.popitem(last=False)
        log.debug("%s: resolved %s to %s", self._label, host, [a.address for a in allowed])
        return allowed

    def connect(self, host: str, port: int, timeout: float | None,
                wakeup: threading.Event) -> Connection | WaitOutcome:
        """Open a connection to ``host`` (a name or an address) after the policy allowed the
        exact address connected to. Raises ``NetworkError`` subclasses (refused, off, too many
        connections) or the ``OSError`` of a failed connect."""
        policy = self._policy
        self._check_enabled(policy, host, port)
        if not 0 < port < 65536:
            raise OSError(errno.EINVAL, f"port {port} is out of range (1-65535)")
        with self._lock:
            open_now = len(self._connections)
        if open_now >= policy.max_connections:
            raise NetworkLimitError(
                f"this sandbox already has {open_now} open connections, the most its network "
                f"policy allows (max_connections = {policy.max_connections}); close the ones "
                "you are done with (use `with` blocks or .close()) and try again")
        limit = policy.connect_timeout
        budget = limit if timeout is None else min(timeout, limit)
        deadline = time.monotonic() + budget
        try:
            targets = self._targets(policy, host, port, wakeup, deadline)
        except _Stopped as stopped:
            return stopped.outcome
        error: OSError | None = None
        for name, address, decision in targets:
            record = ConnectionRecord(name, address.address, port, True, decision.reason)
            self._remember(record)
            conn_id = next(self._ids)
            try:
                opened = Connection.open(conn_id, address.family, address.address, port,
                                         max(0.0, deadline - time.monotonic()), wakeup, record)
            except OSError as exc:
                record.reason = f"allowed; connect failed: {exc.strerror or exc}"
                record.ended_at = time.time()
                log.info("%s: connect to %s (%s) port %s failed: %s", self._label, name,
                         address.address, port, exc)
                error = exc
                continue
            if isinstance(opened, WaitOutcome):
                record.reason = ("allowed; connect timed out" if opened is WaitOutcome.TIMEOUT
                                 else "allowed; connect interrupted")
                record.ended_at = time.time()
                return opened
            opened.rewriter = rewriter_for(policy.headers_for(name, port), name)
            with self._lock:
                self._connections[conn_id] = opened
            log.info("%s: connected to %s (%s) port %s%s", self._label, name, address.address,
                     port, ", headers injected" if opened.rewriter else "")
            return opened
        if error is None:
            raise OSError(errno.EHOSTUNREACH, f"no address of {host} could be reached")
        raise error

    def _targets(self, policy: NetworkPolicy, host: str, port: int,
                 wakeup: threading.Event | None = None, deadline: float | None = None,
                 ) -> list[tuple[str, ResolvedAddress, Decision]]:
        """(name for the audit, address, decision) to try, each one allowed by the policy.
        Raises ``_Stopped`` when the lookup was interrupted or ran out of time."""
        literal = literal_address(host)
        if literal is None:
            self._check(check_name(policy, host, port), host, None, port)
            try:
                addresses = self._lookup(host, port, wakeup, deadline)
            except OSError as exc:
                self._remember(ConnectionRecord(host, None, port, False,
                                                f"name did not resolve: {exc}"))
                raise
            if isinstance(addresses, WaitOutcome):
                raise _Stopped(addresses)
            allowed = []
            first_refusal: tuple[str, Decision] | None = None
            for address in addresses:
                decision = check_address(policy, host, address.address, port)
                if decision.allowed:
                    allowed.append((host, address, decision))
                else:
                    self._remember(ConnectionRecord(host, address.address, port, False,
                                                    decision.reason))
                    first_refusal = first_refusal or (address.address, decision)
            if not allowed:
                if first_refusal is not None:
                    raise self._refusal(host, first_refusal[0], port, first_refusal[1],
                                        audit=False)
                raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
            return allowed
        number = literal.address
        decision = _both(policy, number, number, port)
        if decision.allowed:
            return [(number, literal, decision)]
        with self._lock:
            names = list(self._names.get(number, []))
        for name in names:  # resolved for a name the policy may allow (see module doc)
            by_name = _both(policy, name, number, port)
            if by_name.allowed:
                return [(name, literal, by_name)]
        raise self._refusal(number, number, port, decision)

    def _lookup(self, host: str, port: int, wakeup: threading.Event | None,
                deadline: float | None) -> list[ResolvedAddress] | WaitOutcome:
        """``resolver.resolve`` on a resolver thread, so a slow name server never holds the
        guest past an interrupt or the cell deadline (INTERRUPTED), nor past ``deadline``
        (``socket.gaierror`` EAI_AGAIN)."""
        future: concurrent.futures.Future[list[ResolvedAddress]] = concurrent.futures.Future()
        threading.Thread(target=_resolve_into, args=(future, self.resolver, host, port),
                         name="sandbox-resolver", daemon=True).start()
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            try:
                return future.result(timeout=WAIT_SLICE if remaining is None
                                     else max(0.0, min(remaining, WAIT_SLICE)))
            except concurrent.futures.TimeoutError:
                if wakeup is not None and wakeup.is_set():
                    future.cancel()
                    return WaitOutcome.INTERRUPTED
                if remaining is not None and remaining <= 0:
                    future.cancel()
                    raise socket.gaierror(socket.EAI_AGAIN,
                                          f"resolving {host} took longer than the network "
                                          "policy's connect_timeout") from None

    # -- using a connection ----------------------------------------------------------------
    def get(self, conn_id: int) -> Connection:
        with self._lock:
            conn = self._connections.get(conn_id)
        if conn is None:
            raise ConnectionLostError()
        return conn

    def send(self, conn_id: int, data: bytes | memoryview, timeout: float | None,
             wakeup: threading.Event) -> int | WaitOutcome:
        conn = self.get(conn_id)
        allowed = self._budget(conn, len(data))
        try:
            result = conn.send(memoryview(data)[:allowed], timeout, wakeup)
        except RequestRefusedError as exc:
            self.close(conn_id)
            conn.record.reason = f"{conn.record.reason}; closed: malformed request"
            log.info("%s: closed connection to %s: %s", self._label, conn.record.host,
                     exc.message)
            raise
        if isinstance(result, int):
            self._count(result)
        return result

    def recv(self, conn_id: int, size: int, timeout: float | None,
             wakeup: threading.Event) -> bytes | WaitOutcome:
        out = bytearray(max(1, min(size, MAX_CHUNK)))
        result = self.recv_into(conn_id, memoryview(out), timeout, wakeup)
        return result if isinstance(result, WaitOutcome) else bytes(out[:result])

    def recv_into(self, conn_id: int, view: memoryview, timeout: float | None,
                  wakeup: threading.Event) -> int | WaitOutcome:
        """Up to ``len(view)`` (at most ``MAX_CHUNK``) bytes received into ``view`` (the
        router's answer, so they are copied once); how many, 0 at the end of the stream."""
        conn = self.get(conn_id)
        allowed = self._budget(conn, max(1, min(len(view), MAX_CHUNK)))
        result = conn.recv_into(view[:allowed], timeout, wakeup)
        if not isinstance(result, WaitOutcome):
            self._count(result)
            if conn.wire is not None:  # TLS: framing, tickets... beyond the plaintext
                conn.wire.plaintext_received += result
                self.count_wire(conn, handshaking=False)
        return result

    def poll(self, read_ids: list[int], write_ids: list[int], timeout: float | None,
             wakeup: threading.Event) -> Readiness:
        """Which of the ids are ready (``select`` semantics). An id the broker does not hold
        (closed, lost in a restore) is reported ready, so the guest's next call on it
        raises the error."""
        watched: dict[int, tuple[socket.socket, int]] = {}
        gone: set[int] = set()
        for ids, event in ((read_ids, selectors.EVENT_READ), (write_ids, selectors.EVENT_WRITE)):
            for conn_id in ids:
                with self._lock:
                    conn = self._connections.get(conn_id)
                if conn is None:
                    gone.add(conn_id)
                    continue
                if conn.rewriter is not None and conn.rewriter.output:
                    flushed = conn.flush(timeout, wakeup)  # a request head still held
                    if flushed is not WaitOutcome.READY:
                        return Readiness(flushed, [], [])
                sock, events = watched.get(conn_id, (conn.sock, 0))
                watched[conn_id] = (sock, events | event)
        if gone:  # something to report now: only look at the others in passing
            outcome, ready = WaitOutcome.READY, wait_for(watched, 0, wakeup)[1]
        else:  # nothing watched: an interruptible sleep, as select() with no fds
            outcome, ready = wait_for(watched, timeout, wakeup)
        readable = [i for i in read_ids if i in gone or ready.get(i, 0) & selectors.EVENT_READ]
        writable = [i for i in write_ids
                    if i in gone or ready.get(i, 0) & selectors.EVENT_WRITE]
        return Readiness(outcome, readable, writable)

    def shutdown(self, conn_id: int, how: int) -> None:
        self.get(conn_id).shutdown(how)

    def close(self, conn_id: int) -> None:
        """Close one connection; an id the broker does not hold is already closed."""
        with self._lock:
            conn = self._connections.pop(conn_id, None)
        if conn is not None:
            self._end(conn)

    def close_all(self, why: str) -> int:
        """Close every open connection (restore, sandbox close); returns how many."""
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            conn.record.reason = f"{conn.record.reason}; closed: {why}"
            self._end(conn)
        if connections:
            log.info("%s: closed %d connection(s): %s", self._label, len(connections), why)
        return len(connections)

    # -- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, object]:
        with self._lock:
            records = [record.to_json() for record in self._audit]
            open_now = len(self._connections)
        return {"policy": self._policy.to_json(), "connections": records,
                "open_connections": open_now, "bytes": self._sandbox_bytes}

    def records(self) -> list[ConnectionRecord]:
        with self._lock:
            return list(self._audit)

    # -- internals -------------------------------------------------------------------------
    def _check_enabled(self, policy: NetworkPolicy, host: str, port: int) -> None:
        if not policy.enabled:
            self._remember(ConnectionRecord(host, None, port, False, "network is off"))
            log.info("%s: refused %s port %s: network is off", self._label, host, port)
            raise NetworkDisabledError()

    def _check(self, decision: Decision, host: str, address: str | None, port: int) -> None:
        if not decision.allowed:
            raise self._refusal(host, address, port, decision)

    def _refusal(self, host: str, address: str | None, port: int, decision: Decision,
                 audit: bool = True) -> NetworkRefusedError:
        """Audit and log a refusal; the error to raise."""
        if audit:
            self._remember(ConnectionRecord(host, address, port, False, decision.reason))
        shown = host if address is None or address == host else f"{host} ({address})"
        log.info("%s: refused %s port %s: %s", self._label, shown, port, decision.reason)
        return NetworkRefusedError(f"{shown} port {port}", decision.reason)

    def _remember(self, record: ConnectionRecord) -> None:
        if not record.allowed:
            record.ended_at = record.started_at
        with self._lock:
            self._audit.append(record)

    def count_wire(self, conn: Connection, handshaking: bool) -> None:
        """Count the wire bytes of a TLS connection that OpenSSL moved by itself (the
        handshake both ways, received framing and tickets: ``wire_bytes.py``) in the audit
        and the limits. Past a limit the connection is closed and ``NetworkLimitError``
        raised: an endless handshake or certificate chain stops there."""
        if conn.wire is None:
            return
        sent, received = conn.wire.uncounted(conn.sock, handshaking)
        if not sent and not received:
            return
        conn.record.bytes_sent += sent
        conn.record.bytes_received += received
        self._count(sent + received)
        if handshaking:  # stop it now; after it, the next read or write meets the limit
            self._budget(conn, 1, over=True)

    def _budget(self, conn: Connection, wanted: int, over: bool = False) -> int:
        """How many of ``wanted`` bytes the limits still allow; at none (``over``: when
        already past one), the connection is closed and ``NetworkLimitError`` says which
        limit."""
        policy = self._policy
        cell_left = policy.max_bytes_per_cell - self._cell_bytes
        sandbox_left = policy.max_bytes_per_sandbox - self._sandbox_bytes
        if min(cell_left, sandbox_left) > (-1 if over else 0):
            return min(wanted, cell_left, sandbox_left)
        self.close(conn.id)
        most = "more than" if over else "the most"
        if cell_left < (0 if over else 1):
            what = (f"this cell has moved {self._cell_bytes} bytes over the network, {most} "
                    f"a cell may (max_bytes_per_cell = {policy.max_bytes_per_cell})")
        else:
            what = (f"this sandbox has moved {self._sandbox_bytes} bytes over the network, "
                    f"{most} it may (max_bytes_per_sandbox = "
                    f"{policy.max_bytes_per_sandbox})")
        conn.record.reason = f"{conn.record.reason}; closed: byte limit"
        log.info("%s: closed connection to %s: %s", self._label, conn.record.host, what)
        raise NetworkLimitError(f"{what}; the connection was closed. Ask the administrator "
                                "to raise the limit if this transfer is expected.")

    def _count(self, count: int) -> None:
        with self._lock:
            self._cell_bytes += count
            self._sandbox_bytes += count

    def _end(self, conn: Connection) -> None:
        conn.close()
        record = conn.record
        log.info("%s: closed connection to %s (%s) port %s: sent %d, received %d bytes%s",
                 self._label, record.host, record.address, record.port, record.bytes_sent,
                 record.bytes_received, ", tls" if record.tls else "")


class _Stopped(Exception):
    """A name lookup ended by the guest's wake-up or the connect deadline."""

    def __init__(self, outcome: WaitOutcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


def _resolve_into(future: concurrent.futures.Future[list[ResolvedAddress]],
                  resolver: Resolver, host: str, port: int) -> None:
    """One lookup on its own daemon thread (``getaddrinfo`` cannot be interrupted; a pool's
    threads would hold up the kernel's exit behind a name server that never answers)."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(resolver.resolve(host, port))
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting guest call
        future.set_exception(exc)


def _both(policy: NetworkPolicy, host: str, address: str, port: int) -> Decision:
    """check_name, then check_address: the first refusal, or the address's decision."""
    decision = check_name(policy, host, port)
    if not decision.allowed:
        return decision
    return check_address(policy, host, address, port)
