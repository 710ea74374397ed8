"""Headers the host adds to the guest's HTTP/1.x requests (``NetworkPolicy.inject_headers``).

An administrator can give a sandbox credentials it never sees: for a matching host (``api.
example.com`` -> ``Authorization: Bearer …``), the host rewrites each request head the guest
sends on that connection, removing any header of the same name and adding its own, before the
bytes go out (in plaintext, or into the host's TLS session: ``tls.py``). The value lives only on
the host: not in the guest's memory, the audit, the status route or the logs.

The guest's bytes are parsed incrementally, as a server would, so that the host and the server
agree on where each request starts; the secret must only ever land in a request *head*. If they
disagreed (request smuggling), the secret could end up in a body the server echoes back. So every
ambiguity is refused, not forwarded: a head longer than ``MAX_HEAD``, bare LF line endings, a
line folded onto the next, whitespace before a colon, control characters, both
``Content-Length`` and ``Transfer-Encoding``, several ``Content-Length`` values, any transfer
coding but ``chunked``, a body-carrying method (POST, PUT, PATCH) without a length, HTTP/2's
preface or anything that is not HTTP/1.0/1.1. A refusal closes the connection and raises
``RequestRefusedError`` (a ``PermissionError``) in the guest. After an ``Upgrade`` or
``CONNECT`` request the rest of the stream is another protocol: it is forwarded unchanged and
never injected into.

The rewriter consumes framing bytes (heads, chunk-size lines, trailers) into ``output``, to be
sent before anything else, and lets body bytes through untouched (``Step.body``), so a large
upload costs no copy and keeps ``send`` semantics (the broker sends as much as the peer takes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .errors import RequestRefusedError

#: The longest request head (request line and headers) forwarded; longer ones are refused.
MAX_HEAD = 64 << 10
#: The longest chunk-size line of a chunked body (size and extensions).
MAX_CHUNK_LINE = 4 << 10
#: The most trailer bytes after the last chunk.
MAX_TRAILERS = 16 << 10
#: The largest Content-Length or chunk size taken (more digits than this is a refusal).
MAX_LENGTH_DIGITS = 18

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN.encode() + rb") ([\x21-\x7e]+) HTTP/1\.([01])\Z")
_HEADER = re.compile(rb"(" + _TOKEN.encode() + rb"):[ \t]*(.*?)[ \t]*\Z", re.DOTALL)
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(;[\x20-\x7e\t]*)?\Z")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}


class _State(Enum):
    HEAD = "head"
    BODY = "body"  # Content-Length bytes left in _left
    CHUNK_LINE = "chunk-line"
    CHUNK_DATA = "chunk-data"  # chunk bytes left in _left
    CHUNK_END = "chunk-end"  # the CRLF after a chunk's data
    TRAILERS = "trailers"
    OPAQUE = "opaque"  # after Upgrade/CONNECT: another protocol, forwarded as it is


@dataclass(frozen=True)
class Step:
    """What the next bytes of the guest's stream are: ``framing`` of them were taken (their
    forwarded form, if complete, is in ``RequestRewriter.output``), or the first ``body`` of
    them are body bytes to send unchanged (then call ``sent_body`` with how many went out)."""

    framing: int = 0
    body: int = 0


class RequestRewriter:
    """The request stream of one connection to a host with injected headers."""

    def __init__(self, host: str, headers: list[tuple[str, str]]) -> None:
        self.host = host
        self._headers = [(name.encode("ascii"), value.encode("latin-1"))
                         for name, value in headers]
        self._drop = {name.lower() for name, _ in self._headers}
        self._state = _State.HEAD
        self._buffer = bytearray()  # framing bytes taken, not yet complete
        self._left = 0
        #: Rewritten framing bytes to send before any later byte (the broker drains it).
        self.output = bytearray()
        #: Requests whose head was rewritten (for the audit: a count, never the values).
        self.requests = 0

    @property
    def mid_request(self) -> bool:
        """Whether bytes of an unfinished head are held (a TLS upgrade then is refused)."""
        return bool(self._buffer) or self._state not in (_State.HEAD, _State.OPAQUE)

    def step(self, data: memoryview) -> Step:
        """Classify the first bytes of ``data`` (not empty). Raises RequestRefusedError."""
        state = self._state
        if state is _State.OPAQUE:
            return Step(body=len(data))
        if state in (_State.BODY, _State.CHUNK_DATA):
            return Step(body=min(self._left, len(data)))
        if state is _State.HEAD:
            return self._take_line_block(data, b"\r\n\r\n", MAX_HEAD, self._finish_head,
                                         "request head")
        if state is _State.CHUNK_LINE:
            return self._take_line_block(data, b"\r\n", MAX_CHUNK_LINE, self._finish_chunk_line,
                                         "chunk-size line")
        if state is _State.CHUNK_END:
            return self._take_line_block(data, b"\r\n", 2, self._finish_chunk_end,
                                         "end of a chunk")
        return self._take_trailers(data)

    def sent_body(self, count: int) -> None:
        """``count`` body bytes (of the last ``Step.body``) went out unchanged."""
        if self._state is _State.OPAQUE:
            return
        self._left -= count
        if self._left == 0:
            self._state = _State.CHUNK_END if self._state is _State.CHUNK_DATA else _State.HEAD

    # -- framing ---------------------------------------------------------------------------
    def _take_line_block(self, data: memoryview, end: bytes, limit: int,
                         finish: Callable[[bytes], None], what: str) -> Step:
        """Take bytes up to and including ``end`` (searched across calls) into the buffer; at
        ``end``, ``finish`` checks and forwards the block."""
        start = len(self._buffer)
        # Search from a little before the new bytes, so an ``end`` split across sends is found.
        self._buffer += data[:max(0, limit + len(end) - start)]
        found = self._buffer.find(end, max(0, start - len(end) + 1))
        if found < 0:
            if len(self._buffer) > limit:
                raise RequestRefusedError(self.host, f"the {what} is longer than {limit} bytes")
            if b"\n" in self._buffer.replace(b"\r\n", b""):
                raise RequestRefusedError(self.host, f"a line of the {what} ends in a bare LF")
            return Step(framing=len(self._buffer) - start)
        block_end = found + len(end)
        block = bytes(self._buffer[:block_end])
        del self._buffer[:]
        finish(block)
        return Step(framing=block_end - start)

    def _finish_head(self, block: bytes) -> None:
        lines = block[:-4].split(b"\r\n")
        if any(b"\n" in line or b"\r" in line for line in lines):
            raise RequestRefusedError(self.host, "a line of the request head ends in a bare CR "
                                      "or LF")
        if block.startswith(b"PRI * HTTP/2.0"):
            raise RequestRefusedError(self.host, "HTTP/2 is not forwarded (only HTTP/1.x)")
        match = _REQUEST_LINE.fullmatch(lines[0])
        if match is None:
            raise RequestRefusedError(self.host, "the request line is not 'METHOD target "
                                      "HTTP/1.x'")
        method = match.group(1)
        kept: list[bytes] = [lines[0]]
        fields: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t"):
                raise RequestRefusedError(self.host, "a header line is folded onto the "
                                          "previous one (obsolete line folding)")
            parsed = _HEADER.fullmatch(line)
            if parsed is None:
                raise RequestRefusedError(self.host, "a header line is not 'Name: value' "
                                          "(no whitespace before the colon)")
            name, value = parsed.group(1), parsed.group(2)
            if _BAD_VALUE.search(value):
                raise RequestRefusedError(self.host, "a header value holds control characters")
            if name.lower() in self._drop:
                continue  # replaced by the administrator's value
            kept.append(line)
            fields.append((name.lower(), value))
        for name, value in self._headers:
            kept.append(name + b": " + value)
            fields.append((name.lower(), value))
        self._frame(method, fields)
        self.output += b"\r\n".join(kept) + b"\r\n\r\n"
        self.requests += 1

    def _frame(self, method: bytes, fields: list[tuple[bytes, bytes]]) -> None:
        """Where this request's body ends, from the head as forwarded."""
        lengths = {value for name, value in fields if name == b"content-length"}
        codings = [value for name, value in fields if name == b"transfer-encoding"]
        upgrade = any(name == b"upgrade" for name, _ in fields)
        if lengths and codings:
            raise RequestRefusedError(self.host, "the request has both Content-Length and "
                                      "Transfer-Encoding")
        if codings:
            if len(codings) != 1 or codings[0].lower() != b"chunked":
                raise RequestRefusedError(self.host, "the only transfer coding forwarded is "
                                          "a single 'chunked'")
            self._state = _State.CHUNK_LINE
            return
        if len(lengths) > 1:
            raise RequestRefusedError(self.host, "the request has several different "
                                      "Content-Length values")
        if lengths:
            text = lengths.pop()
            if not text.isdigit() or len(text) > MAX_LENGTH_DIGITS:
                raise RequestRefusedError(self.host, "Content-Length is not a number")
            self._left = int(text)
        elif method in _BODY_METHODS:
            raise RequestRefusedError(self.host, f"a {method.decode()} request needs a "
                                      "Content-Length or Transfer-Encoding: chunked")
        else:
            self._left = 0
        if method == b"CONNECT" or upgrade:
            self._state = _State.OPAQUE  # the rest is the tunnel's protocol
        elif self._left:
            self._state = _State.BODY

    def _finish_chunk_line(self, block: bytes) -> None:
        match = _CHUNK_LINE.fullmatch(block[:-2])
        if match is None:
            raise RequestRefusedError(self.host, "a chunk-size line of the chunked body is "
                                      "malformed")
        self._left = int(match.group(1), 16)
        self.output += block
        self._state = _State.CHUNK_DATA if self._left else _State.TRAILERS

    def _finish_chunk_end(self, block: bytes) -> None:
        if block != b"\r\n":
            raise RequestRefusedError(self.host, "a chunk of the chunked body is longer than "
                                      "its size says")
        self.output += block
        self._state = _State.CHUNK_LINE

    def _take_trailers(self, data: memoryview) -> Step:
        """Trailer lines after the last chunk, up to an empty line (``CRLF`` alone at once)."""
        start = len(self._buffer)
        if start < 2:
            joined = bytes(self._buffer) + bytes(data[:2 - start])
            if joined == b"\r\n":  # no trailers: the message ends here
                del self._buffer[:]
                self.output += b"\r\n"
                self._state = _State.HEAD
                return Step(framing=2 - start)
            if joined == b"\r":  # the rest of the CRLF comes with the next send
                self._buffer += data[:1]
                return Step(framing=1)
            if joined[:1] == b"\r":
                raise RequestRefusedError(self.host, "the chunked body ends in a bare CR")
        return self._take_line_block(data, b"\r\n\r\n", MAX_TRAILERS, self._finish_trailers,
                                     "trailer section")

    def _finish_trailers(self, block: bytes) -> None:
        for line in block[:-4].split(b"\r\n"):
            parsed = _HEADER.fullmatch(line)
            if parsed is None or _BAD_VALUE.search(parsed.group(2)):
                raise RequestRefusedError(self.host, "a trailer line is malformed")
            if parsed.group(1).lower() in self._drop:
                raise RequestRefusedError(self.host, "a trailer names an injected header")
        self.output += block
        self._state = _State.HEAD


def rewriter_for(headers: list[tuple[str, str]], host: str) -> RequestRewriter | None:
    """A rewriter when the policy injects headers for this connection's host, else None."""
    return RequestRewriter(host, headers) if headers else None
