"""``DELETE /previews/<port>`` on the kernel's control endpoint: stop the preview app
registered on ``port`` inside the sandbox (the guest's ``jupyter_sandbox.stop(port)``), 204;
404 when nothing was registered there. Runs as a silent execution, like ``GET /previews``."""

from __future__ import annotations

import asyncio

import tornado.web

from .control_exec import _ControlHandler

_STOP_EXPRESSION = "__import__('jupyter_sandbox._registry', fromlist=['stop']).stop({port})"


class PreviewStopHandler(_ControlHandler):
    async def delete(self, port: str) -> None:
        number = int(port)
        if not 1 <= number <= 65535:
            self._error(400, "bad_port", "the port must be a number from 1 to 65535")
            return
        reply = await asyncio.to_thread(
            self.sandbox.execute, "", None, silent=True, store_history=False,
            user_expressions={"stopped": _STOP_EXPRESSION.format(port=number)})
        result = reply.user_expressions.get("stopped") or {}
        text = (result.get("data") or {}).get("text/plain")
        if text == "True":
            self.set_status(204)
            self.finish()
        elif text == "False":
            self._error(404, "not_found", f"no preview is served on port {number}")
        else:
            self._error(502, "error", f"the sandbox could not stop the preview: {result}")


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/previews/([0-9]{1,5})", PreviewStopHandler),
]
