"""``DELETE /previews/<port>`` on the kernel's control endpoint: stop the preview app
registered on ``port`` inside the sandbox (the guest's ``preview_stop`` request, as
``jupyter_sandbox.stop(port)``), 204; 404 when nothing was registered there; 502 with the
error envelope when the guest fails to answer."""

from __future__ import annotations

import asyncio
import logging

import tornado.web

from jupyter_sandbox.runtime.errors import SandboxError

from .control_base import ControlHandler

log = logging.getLogger(__name__)


class PreviewStopHandler(ControlHandler):
    async def delete(self, port: str) -> None:
        number = int(port)
        if not 1 <= number <= 65535:
            self.fail(400, "the port must be a number from 1 to 65535", "bad_port")
            return
        try:
            stopped = await asyncio.to_thread(self.sandbox.preview_stop, number)
        except SandboxError as exc:
            log.warning("stopping the preview on port %d failed: %s", number, exc)
            self.fail(502, f"the sandbox could not stop the preview: {exc}", "sandbox_error")
            return
        if stopped:
            self.set_status(204)
            self.finish()
        else:
            self.fail(404, f"no preview is served on port {number}",
                      hint="list the previews with GET /previews")


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/previews/([0-9]{1,5})", PreviewStopHandler),
]
