"""The base of the kernel-level REST handlers (``{base_url}sandbox/api/kernels/{id}/...``):
Jupyter's ``kernels`` authorization, the shared control-socket client, forwarding a JSON call
to a kernel, and errors (the kernel's, ours, jupyter_server's) as the one envelope of
``control_protocol.ErrorBody``."""

from __future__ import annotations

from typing import Any

from jupyter_server.base.handlers import APIHandler

from ..control_client import ControlClient
from ..errors import EnvelopeErrors


class KernelAPIHandler(EnvelopeErrors, APIHandler):
    auth_resource = "kernels"

    @property
    def control(self) -> ControlClient:
        return self.settings["jupyter_sandbox_control"]

    async def forward_json(self, method: str, path: str, kernel_id: str) -> Any:
        """The kernel's JSON answer; its error (``ControlError``) is answered as it is."""
        return await self.control.json(kernel_id, method, path)
