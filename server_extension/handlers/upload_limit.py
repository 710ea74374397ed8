"""Shared by the file routes (the service's ``/sandboxes/{id}/files`` and the kernel-level
``/kernels/{id}/files`` the JupyterLab panel uses): a request body counted as it arrives and
never held beyond the server's upload limit (``SandboxExtensionApp.max_upload_mib``), and the
control-endpoint path of a file route."""

from __future__ import annotations

from tornado import web

from ..control_client import quote_path
from ..errors import APIError


class UploadLimit(web.RequestHandler):
    """Mixin for ``@web.stream_request_body`` handlers: call ``start_upload()`` in
    ``prepare``; after the body, ``upload_too_large`` tells whether it went over the limit,
    else ``upload`` holds it."""

    upload: bytearray
    upload_too_large: bool

    @property
    def max_upload(self) -> int:
        return self.settings["jupyter_sandbox_max_upload"]

    def start_upload(self) -> None:
        self.upload = bytearray()
        self.upload_too_large = False
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_upload:
            self.upload_too_large = True

    def data_received(self, chunk: bytes) -> None:
        if self.upload_too_large or len(self.upload) + len(chunk) > self.max_upload:
            self.upload_too_large = True
            self.upload = bytearray()
            return
        self.upload += chunk

    def too_large_error(self) -> APIError:
        return APIError(413, f"the file is larger than this server's upload limit of "
                             f"{self.max_upload} bytes",
                        hint="upload a smaller file, or ask the administrator to raise "
                             "SandboxExtensionApp.max_upload_mib")

    def file_target(self, path: str) -> str:
        """``/files/<path>`` on the kernel's control endpoint, with ``?list``/``?recursive``."""
        query = "?" + "&".join(k for k in ("list", "recursive") if k in self.request.arguments)
        return "/files/" + quote_path(path) + (query if len(query) > 1 else "")
