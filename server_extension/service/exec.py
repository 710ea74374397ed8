"""``POST {base_url}sandbox/api/v1/sandboxes/{id}/exec`` with ``{"code": "..."}``: runs the code
in the sandbox and streams NDJSON, one Jupyter-shaped message per line (``stream``,
``display_data``, ``execute_result``, ``error``, ...) as the code produces it, ending with an
``execute_reply`` line that carries the status."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.httputil import HTTPHeaders

from jupyter_sandbox.kernel.control_protocol import NDJSON, ExecMessage, ExecRequest, ReplyStatus

from .base import ServiceHandler
from .errors import ServiceError
from .sandboxes import ID, PREFIX


def _ignore_failure(future: Any) -> None:
    future.exception()  # a client that left: nothing more to send it


class ExecHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str) -> None:
        body = self.json_body()
        code = body.get("code")
        if not isinstance(code, str) or set(body) - {"code"}:
            raise ServiceError(400, "the body must be {\"code\": \"...\"}")
        record = self.registry.get(sandbox_id)
        started = False

        def on_headers(_status: int, _reason: str, _headers: HTTPHeaders) -> None:
            nonlocal started
            started = True
            self.set_header("Content-Type", NDJSON)
            self.set_header("Cache-Control", "no-store")

        def on_chunk(data: bytes) -> None:
            self.write(data)
            self.flush().add_done_callback(_ignore_failure)

        request: ExecRequest = {"code": code}
        async with self.registry.use(record) as kernel_id:
            status = await self.registry.control.stream(
                kernel_id, "POST", "/exec", json.dumps(request).encode(), on_headers, on_chunk)
        if status >= 400:  # the kernel went away after the output began
            lost: ExecMessage = {"msg_type": "execute_reply", "metadata": {}, "content": {
                "status": ReplyStatus.ERROR.value, "execution_count": None,
                "ename": "SandboxLost",
                "evalue": "the sandbox's kernel stopped answering during the execution",
                "traceback": []}}
            self.write(json.dumps(lost) + "\n")
        self.finish(set_content_type=NDJSON)


ROUTES = [(PREFIX + rf"/sandboxes/{ID}/exec", ExecHandler)]
