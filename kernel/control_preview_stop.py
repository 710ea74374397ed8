"""``DELETE /previews/<port>`` on the kernel's control endpoint: stop the preview app
registered on ``port`` inside the sandbox (the guest's ``preview_stop`` request, as
``jupyter_sandbox.stop(port)``), 204; 404 when nothing was registered there; 502 with the
error envelope when the guest fails to answer."""

from __future__ import annotations

import asyncio
import logging

import tornado.web

from jupyter_sandbox.runtime.errors import SandboxError

from .control_exec import _ControlHandler

log = logging.getLogger(__name__)


class PreviewStopHandler(_ControlHandler):
    async def delete(self, port: str) -> None:
        number = int(port)
        if not 1 <= number <= 65535:
            self._error(400, "bad_port", "the port must be a number from 1 to 65535")
            return
        try:
            stopped = await asyncio.to_thread(self.sandbox.preview_stop, number)
        except SandboxError as exc:
            log.warning("stopping the preview on port %d failed: %s", number, exc)
            self._error(502, "sandbox_error", f"the sandbox could not stop the preview: {exc}")
            return
        if stopped:
            self.set_status(204)
            self.finish()
        else:
            self._error(404, "not_found", f"no preview is served on port {number}")


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/previews/([0-9]{1,5})", PreviewStopHandler),
]
