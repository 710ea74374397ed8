"""REST routes for the files of a sandboxed kernel's ``/workspace``, behind Jupyter auth (the
JupyterLab side panel browses, downloads and uploads with them):

* ``GET {base_url}sandbox/api/kernels/{kernel_id}/files/{path}`` → the file's bytes;
  ``...?list`` → the folder's entries ``{"path", "files": [...]}`` (empty path: /workspace);
* ``PUT .../files/{path}`` with the bytes → create or replace (201 + the file's info).

They forward to the kernel control endpoint's file routes (``kernel/control_files.py``), so
paths are checked by the runtime's files API as for the sandbox's own file calls. Uploads
larger than ``SandboxExtensionApp.max_upload_mib`` are refused (413) as they arrive
(``upload_limit``, shared with the sandbox service's file routes). Errors are the envelope of
``control_protocol.ErrorBody`` (the kernel's file errors passed on with their codes).
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..control_client import quote_path
from ..errors import APIError
from .base import KernelAPIHandler
from .upload_limit import UploadLimit

ROUTE = r"/sandbox/api/kernels/(?P<kernel_id>[^/]+)/files/(?P<path>.*)"


@web.stream_request_body
class KernelFilesHandler(UploadLimit, KernelAPIHandler):

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        self.start_upload()
        if self.request.method == "PUT" and self.current_user is None:
            raise APIError(403, "uploading needs a Jupyter login or the server's token")

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str, path: str) -> None:
        response = await self.control.request(kernel_id, "GET", self.file_target(path))
        if "list" in self.request.arguments:
            self.finish(response.body)
            return
        name = path.rstrip("/").rsplit("/", 1)[-1] or "download"
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote_path(name)}")
        self.finish(response.body, set_content_type="application/octet-stream")

    @web.authenticated
    @authorized
    async def put(self, kernel_id: str, path: str) -> None:
        if self.upload_too_large:
            raise self.too_large_error()
        try:
            response = await self.control.request(kernel_id, "PUT", self.file_target(path),
                                                  body=bytes(self.upload))
        finally:
            self.upload = bytearray()
        self.set_status(201)
        self.finish(response.body)


HANDLERS = [(ROUTE, KernelFilesHandler)]
