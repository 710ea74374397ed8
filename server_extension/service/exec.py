"""``POST {base_url}sandbox/api/v1/sandboxes/{id}/exec`` with ``{"code": "..."}``: runs the code
in the sandbox and streams NDJSON, one Jupyter-shaped message per line (``stream``,
``display_data``, ``execute_result``, ``error``, ...) as the code produces it, ending with an
``execute_reply`` line that carries the status. With ``"language": "javascript"`` the code runs
as ``node -e CODE``, a process in the sandbox (``commands.JavaScriptExec``): its output as
``stream`` messages, then the ``execute_reply``."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.httputil import HTTPHeaders

from jupyter_sandbox.kernel.control_protocol import NDJSON, ExecMessage, ExecRequest, ReplyStatus

from .commands import CommandStreamHandler, JavaScriptExec
from .errors import ServiceError
from .sandboxes import ID, PREFIX

#: The languages ``exec`` runs: Python in the sandbox's kernel, JavaScript as ``node -e``.
LANGUAGES = ("python", "javascript")


def _ignore_failure(future: Any) -> None:
    future.exception()  # a client that left: nothing more to send it


class ExecHandler(CommandStreamHandler):
    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str) -> None:
        body = self.json_body()
        code = body.get("code")
        language = body.get("language", "python")
        if not isinstance(code, str) or set(body) - {"code", "language"} \
                or language not in LANGUAGES:
            raise ServiceError(400, "the body must be {\"code\": \"...\"} with an optional "
                                    "\"language\": \"python\" (the default) or \"javascript\"")
        if language == "javascript":  # node -e CODE, a process in the sandbox
            await self.relay(sandbox_id, "POST", "/commands", JavaScriptExec.request(code),
                             JavaScriptExec())
            return
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
