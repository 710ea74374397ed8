"""Previews, host side: HTTP requests and WebSocket messages for apps that guest code published
with ``jupyter_sandbox.serve``, carried into the sandbox between cells.

Each request is one sandbox operation, queued behind any running cell. If it does not start
within ``PreviewLimits.busy_timeout`` it is withdrawn and answered 503 (the sandbox is busy).
Once started, the guest streams the response back as messages (``http.start``, ``http.body``),
which :meth:`PreviewGateway.http` yields as they arrive. A request running past
``request_timeout`` is answered 504 at once, and the guest is stopped as a cell past its
deadline is: a ``TimeoutError``, then, if the app swallows it, a hard stop after the grace
period and a restore from the recovery point (so later cells still run). An app that raises
gives 500 with its traceback in the log, never in the response.

Async first: the gateway is used from an asyncio loop (the kernel's control endpoint).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from .errors import GuestDiedError, ResponseAborted, SandboxClosedError, SandboxError
from .protocol import PreviewHttpRequest, PreviewRequest, StopReason
from .sandbox.messages import Message, PreviewJob

if TYPE_CHECKING:  # the facade never imports this module: no import cycle
    from .sandbox import Sandbox

log = logging.getLogger("jupyter_sandbox.previews")
MiB = 1 << 20
_conn_ids = itertools.count(1)


@dataclass(frozen=True)
class PreviewLimits:
    #: Seconds a request waits for a running cell to finish before it gets 503.
    busy_timeout: float = 10.0
    #: Seconds an app may take to answer one request (or one WebSocket message).
    request_timeout: float = 30.0
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 64 * MiB

    def __post_init__(self) -> None:
        for name in ("busy_timeout", "request_timeout", "max_body_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"PreviewLimits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass
class HttpRequest:
    """One request for the app on ``port``, as the proxy forwards it.

    ``path`` is the percent-encoded path below the preview's prefix (starting with "/");
    ``script_name`` is that prefix as the browser sees it (``/sandbox/preview/<id>/8000``).
    """

    port: int
    method: str
    path: str = "/"
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    script_name: str = ""
    scheme: str = "http"
    host: str = "localhost"
    client: tuple[str, int] = ("127.0.0.1", 0)
    subprotocols: list[str] = field(default_factory=list)

    def to_guest(self, kind: Literal["http", "ws_connect"]) -> PreviewHttpRequest:
        return {"type": kind, "port": self.port, "method": self.method, "path": self.path or "/",
                "query": self.query, "headers": [list(h) for h in self.headers],
                "body": base64.b64encode(self.body).decode("ascii"),
                "script_name": self.script_name, "scheme": self.scheme, "host": self.host,
                "client": list(self.client), "subprotocols": self.subprotocols}


@dataclass(frozen=True)
class ResponseStart:
    status: int
    headers: list[tuple[str, str]]


@dataclass
class WebSocketEvents:
    """What one WebSocket operation produced: the app's messages (``ws.accept``, ``ws.send``,
    ``ws.close`` with their contents) and whether the connection is still open."""

    messages: list[tuple[str, dict[str, Any]]]
    open: bool
    #: Set when the sandbox could not run the operation (busy, no app): status and message.
    refused: tuple[int, str] | None = None


def plain(status: int, text: str) -> tuple[ResponseStart, bytes]:
    """A fixed plain-text answer. Never put request data in ``text``."""
    body = (text.rstrip("\n") + "\n").encode()
    return ResponseStart(status, [("Content-Type", "text/plain; charset=utf-8"),
                                  ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")]), body


_DONE = object()
#: Queued by the sandbox when a request passes ``PreviewLimits.request_timeout``.
_TIMED_OUT = object()


class PreviewGateway:
    """Carries preview traffic into one sandbox."""

    def __init__(self, sandbox: Sandbox, limits: PreviewLimits | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.sandbox = sandbox
        self.limits = limits or PreviewLimits()
        self.log = logger or log

    # -- the core: one operation, its messages as they come, then its reply ---------------
    async def _operate(self, request: PreviewRequest) -> AsyncIterator[tuple[str, Any]]:
        """Yield ("message", msg) for each guest message, then exactly one of ("reply", dict),
        ("busy", None), ("timeout", None), ("failed", exception)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        started = asyncio.Event()

        def on_message(message: Message) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, message)

        def on_start() -> None:
            loop.call_soon_threadsafe(started.set)

        def on_timeout() -> None:  # the sandbox's clock thread, at the request's deadline
            loop.call_soon_threadsafe(queue.put_nowait, _TIMED_OUT)

        try:
            job = self.sandbox.submit_preview(request, on_message, on_start,
                                              timeout=self.limits.request_timeout,
                                              on_timeout=on_timeout)
        except SandboxClosedError as exc:
            yield "failed", exc
            return
        job.future.add_done_callback(lambda _f: loop.call_soon_threadsafe(queue.put_nowait, _DONE))
        try:
            try:
                await asyncio.wait_for(started.wait(), self.limits.busy_timeout)
            except TimeoutError:
                if job.future.cancel():
                    yield "busy", None
                    return
            while (item := await queue.get()) is not _DONE:
                if item is _TIMED_OUT:
                    # Answer now: the sandbox stops the app (TimeoutError, then a hard stop
                    # and recovery if it swallows that) without the client waiting for it.
                    yield "timeout", None
                    return
                yield "message", item
            try:
                reply = job.future.result()
            except concurrent.futures.CancelledError as exc:
                yield "failed", exc
                return
            except (SandboxError, GuestDiedError) as exc:
                yield "failed", exc
                return
            yield "reply", reply
        finally:
            if not job.future.done() and not job.future.cancel():
                # The consumer went away (client disconnected) while the app still runs.
                job.interrupt(StopReason.INTERRUPT)

    # -- HTTP --------------------------------------------------------------------------------
    async def http(self, request: HttpRequest) -> AsyncIterator[ResponseStart | bytes]:
        """The app's response: a ``ResponseStart``, then body chunks as the app produces them.
        Raises ``ResponseAborted`` if the app fails after its response started."""
        if len(request.body) > self.limits.max_body_bytes:
            for part in plain(413, f"The request body is larger than the preview limit of "
                                   f"{self.limits.max_body_bytes} bytes."):
                yield part
            return
        started = False
        async for kind, value in self._operate(request.to_guest("http")):
            if kind == "message":
                msg_type, content = value["msg_type"], value["content"]
                if msg_type == "http.start":
                    started = True
                    yield ResponseStart(int(content["status"]),
                                        [(str(k), str(v)) for k, v in content["headers"]])
                elif msg_type == "http.body":
                    try:
                        chunk = base64.b64decode(content["data"], validate=True)
                    except binascii.Error as exc:
                        raise ResponseAborted(f"the app on port {request.port} sent a response "
                                              "chunk that is not base64") from exc
                    yield chunk
                else:
                    self._log_output(request.port, value)
                continue
            answer = self._failure(request.port, kind, value)
            if answer is None:
                return
            if started:
                raise ResponseAborted(f"the app on port {request.port} failed while "
                                      f"streaming its response: {answer[1]}")
            for part in plain(*answer):
                yield part

    def _failure(self, port: int, kind: str, value: Any) -> tuple[int, str] | None:
        """The status and fixed message for how an operation ended; None when it went well."""
        if kind == "busy":
            return 503, (f"The sandbox is busy running a cell; try again when it has finished "
                         f"(waited {self.limits.busy_timeout:g} s).")
        if kind == "timeout":
            self.log.warning("preview on port %s: the app did not answer within %g s", port,
                             self.limits.request_timeout)
            return 504, f"The app did not answer within {self.limits.request_timeout:g} s."
        if kind == "failed":
            self.log.error("preview on port %s: the sandbox could not run the request",
                           port, exc_info=value)
            return 503, "The sandbox could not run the request (it was closed or restarted)."
        reply = value
        if reply.get("status") == "ok":
            return None
        code = int(reply.get("code") or 500)
        if reply.get("traceback"):
            self.log.error("preview on port %s: %s\n%s", port, reply.get("message", "error"),
                           reply["traceback"])
        if code == 500:
            return 500, "The app raised an exception; the traceback is in the kernel's log."
        return code, str(reply.get("message") or "The request failed.")

    def _log_output(self, port: int, message: Message) -> None:
        if message["msg_type"] == "stream":
            text = message["content"].get("text", "").rstrip("\n")
            if text:
                self.log.info("preview on port %s: %s", port, text)

    # -- WebSocket ----------------------------------------------------------------------------
    def new_connection_id(self) -> str:
        return f"ws-{next(_conn_ids)}"

    async def websocket(self, request: dict[str, Any]) -> WebSocketEvents:
        """Run one WebSocket operation: ``ws_connect`` (fields of ``HttpRequest.to_guest``
        plus ``conn``), ``ws_receive`` (``conn``, ``text`` or base64 ``bytes``) or
        ``ws_disconnect`` (``conn``, ``code``)."""
        messages: list[tuple[str, dict[str, Any]]] = []
        port = int(request.get("port", 0))
        # Built by the kernel's control endpoint (host code) as plain dicts: a
        # ``protocol.PreviewRequest`` (``ws_connect``: ``to_guest`` plus ``conn``).
        async for kind, value in self._operate(cast(PreviewRequest, request)):
            if kind == "message":
                if value["msg_type"].startswith("ws."):
                    messages.append((value["msg_type"], value["content"]))
                else:
                    self._log_output(port, value)
                continue
            if kind == "reply":
                if value.get("traceback"):
                    self.log.error("preview WebSocket on port %s: the app failed\n%s", port,
                                   value["traceback"])
                if value.get("code"):
                    return WebSocketEvents(messages, False,
                                           (int(value["code"]), str(value.get("message", ""))))
                return WebSocketEvents(messages, bool(value.get("open")))
            answer = self._failure(port, kind, value)
            return WebSocketEvents(messages, False, answer)
        return WebSocketEvents(messages, False, (500, "no reply"))


__all__ = ["HttpRequest", "PreviewGateway", "PreviewJob", "PreviewLimits", "ResponseAborted",
           "ResponseStart", "WebSocketEvents", "plain"]
