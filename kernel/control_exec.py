"""Execution routes of the kernel's control endpoint, for the sandbox service:

* ``POST /exec`` with ``{"code": "..."}`` → NDJSON, one Jupyter-shaped output message per line
  (``{"msg_type", "content", "metadata"}``) as the cell produces it, then one
  ``{"msg_type": "execute_reply", "content": {"status", "execution_count", ...}}`` line.
* ``POST /interrupt`` → interrupt the running cell (204).
* ``GET /previews`` → ``{"ports": [...]}``, the ports of the preview apps registered inside
  (the guest's ``previews_list`` request); 502 with the error envelope when the guest fails.

Cells run on the sandbox's guest thread like the notebook's own, one at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import tornado.iostream
import tornado.web

from jupyter_sandbox.runtime.errors import SandboxError
from jupyter_sandbox.runtime.sandbox import ExecuteReply, Message

from .control_base import ControlHandler
from .control_protocol import NDJSON, ExecMessage, PreviewsListBody, ReplyStatus

log = logging.getLogger(__name__)


def reply_message(reply: ExecuteReply) -> ExecMessage:
    content: dict[str, Any] = {"status": reply.status, "execution_count": reply.execution_count}
    if reply.status != ReplyStatus.OK:
        content.update(ename=reply.ename, evalue=reply.evalue, traceback=reply.traceback)
    return {"msg_type": "execute_reply", "content": content, "metadata": {}}


def failure_message(exc: BaseException) -> ExecMessage:
    return {"msg_type": "execute_reply", "metadata": {},
            "content": {"status": ReplyStatus.ERROR.value, "execution_count": None,
                        "ename": type(exc).__name__, "evalue": str(exc), "traceback": []}}


class ExecHandler(ControlHandler):
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            self.fail(400, "the body must be JSON: {\"code\": \"...\"}")
            return
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str):
            self.fail(400, "the body needs \"code\", a string")
            return
        loop = asyncio.get_running_loop()
        messages: asyncio.Queue[tuple[bool, Message | ExecMessage]] = asyncio.Queue()

        def put(last: bool, message: Message | ExecMessage) -> None:
            loop.call_soon_threadsafe(messages.put_nowait, (last, message))

        def run() -> None:
            try:
                reply = self.sandbox.execute(code, lambda m: put(False, m),
                                             store_history=True)
            except Exception as exc:  # noqa: BLE001 - reported to the client as the status
                put(True, failure_message(exc))
                return
            put(True, reply_message(reply))

        threading.Thread(target=run, name="sandbox-service-exec", daemon=True).start()
        self.set_header("Content-Type", NDJSON)
        self.set_header("Cache-Control", "no-store")
        connected = True
        while True:
            last, message = await messages.get()
            if connected:
                try:
                    self.write(json.dumps(message, default=str) + "\n")
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    connected = False  # the client left: stop the cell, drain its output
                    self.sandbox.interrupt()
            if last:
                break
        if connected:
            self.finish()


class InterruptHandler(ControlHandler):
    def post(self) -> None:
        self.sandbox.interrupt()
        self.set_status(204)
        self.finish()


class PreviewsListHandler(ControlHandler):
    async def get(self) -> None:
        try:
            ports = await asyncio.to_thread(self.sandbox.previews_list)
        except SandboxError as exc:
            log.warning("listing the sandbox's previews failed: %s", exc)
            self.fail(502, f"the sandbox could not list its previews: {exc}", "sandbox_error")
            return
        body: PreviewsListBody = {"ports": ports}
        self.send_json(200, body)


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/exec", ExecHandler),
    (r"/interrupt", InterruptHandler),
    (r"/previews", PreviewsListHandler),
]
