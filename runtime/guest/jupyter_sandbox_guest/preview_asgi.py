"""The event loop of preview apps, and ASGI WebSocket connections.

A WebSocket app lives across turns: each ``ws_connect``/``ws_receive`` turn hands it one event
and runs the loop until the app waits for the next one (or ends); whatever it sent meanwhile
goes to the host as ``ws.accept``/``ws.send``/``ws.close`` messages.
"""

from __future__ import annotations

import asyncio
import base64
import traceback
from typing import Any

from . import bridge

_loop: asyncio.AbstractEventLoop | None = None
_connections: dict[str, Connection] = {}


def loop() -> asyncio.AbstractEventLoop:
    """The loop preview apps run on (one, kept between turns, never running between them)."""
    global _loop
    if _loop is None or _loop.is_closed():
        from .event_loop import SandboxEventLoop

        _loop = SandboxEventLoop()
    return _loop


class Connection:
    def __init__(self, conn_id: str, app: Any, scope: dict[str, Any]) -> None:
        self.id = conn_id
        self.app = app
        self.scope = scope
        self.incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}]
        self.wakeup: asyncio.Future[None] | None = None
        self.idle: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.accepted = False
        self.closed = False

    async def receive(self) -> dict[str, Any]:
        while not self.incoming:
            if self.idle is not None and not self.idle.done():
                self.idle.set_result(None)
            self.wakeup = loop().create_future()
            await self.wakeup
        return self.incoming.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if self.closed:
            raise RuntimeError(f"cannot send {kind!r}: the WebSocket is closed")
        if kind == "websocket.accept":
            self.accepted = True
            headers = [[_text(k), _text(v)] for k, v in message.get("headers") or []]
            bridge.send("ws.accept", {"subprotocol": message.get("subprotocol"),
                                      "headers": headers})
        elif kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("send before websocket.accept")
            if message.get("bytes") is not None:
                bridge.send("ws.send", {"bytes": base64.b64encode(message["bytes"]).decode()})
            else:
                bridge.send("ws.send", {"text": str(message.get("text") or "")})
        elif kind == "websocket.close":
            self.closed = True
            bridge.send("ws.close", {"code": int(message.get("code") or 1000),
                                     "reason": str(message.get("reason") or "")})
        else:
            raise RuntimeError(f"unknown ASGI WebSocket message {kind!r}")

    def step(self, event: dict[str, Any] | None) -> dict[str, Any]:
        """Hand the app ``event`` and run until it waits again; the reply for the host."""
        running = loop()
        if event is not None:
            self.incoming.append(event)
        self.idle = running.create_future()
        if self.task is None:
            self.task = running.create_task(self.app(self.scope, self.receive, self.send))
            self.task.add_done_callback(self._on_done)
        elif self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)
        running.run_until_complete(self.idle)
        if self.task.done():
            _connections.pop(self.id, None)
            error = None if self.task.cancelled() else self.task.exception()
            if error is not None:
                return {"status": "error", "open": False,
                        "traceback": "".join(traceback.format_exception(error))}
            return {"status": "ok", "open": False}
        return {"status": "ok", "open": not self.closed}

    def _on_done(self, _task: asyncio.Task[None]) -> None:
        if self.idle is not None and not self.idle.done():
            self.idle.set_result(None)

    def cancel(self) -> None:
        _connections.pop(self.id, None)
        if self.task is not None and not self.task.done():
            self.task.cancel()
            idle = self.idle = loop().create_future()
            self.task.add_done_callback(self._on_done)
            loop().run_until_complete(idle)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def _guarded(conn: Connection, event: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return conn.step(event)
    except BaseException as exc:  # noqa: BLE001 - the host logs it and closes the socket
        _connections.pop(conn.id, None)
        return {"status": "error", "open": False,
                "traceback": "".join(traceback.format_exception(exc))}


def connect(request: dict[str, Any]) -> dict[str, Any]:
    from .preview_http import asgi_scope, registered

    port = int(request.get("port", 0))
    preview = registered(port)
    if preview is None:
        return {"status": "error", "code": 502, "open": False,
                "message": f"Nothing is served on port {port} in this sandbox."}
    if preview.kind != "asgi":
        return {"status": "error", "code": 501, "open": False,
                "message": f"The app on port {port} is not an ASGI app: no WebSockets."}
    conn = Connection(str(request["conn"]), preview.app, asgi_scope(request, "websocket"))
    _connections[conn.id] = conn
    return _guarded(conn, None)


def receive(request: dict[str, Any]) -> dict[str, Any]:
    conn = _connections.get(str(request.get("conn")))
    if conn is None:
        return {"status": "error", "open": False, "message": "no such WebSocket connection"}
    if request.get("bytes") is not None:
        event = {"type": "websocket.receive", "bytes": base64.b64decode(request["bytes"])}
    else:
        event = {"type": "websocket.receive", "text": str(request.get("text") or "")}
    return _guarded(conn, event)


def disconnect(request: dict[str, Any]) -> dict[str, Any]:
    conn = _connections.get(str(request.get("conn")))
    if conn is None:
        return {"status": "ok", "open": False}
    code = int(request.get("code") or 1000)
    reply = _guarded(conn, {"type": "websocket.disconnect", "code": code})
    if conn.task is not None and not conn.task.done():
        conn.cancel()
    return {**reply, "open": False}
