"""REST routes for the files of a sandboxed kernel's ``/workspace``, behind Jupyter auth (the
JupyterLab side panel browses, downloads and uploads with them):

* ``GET {base_url}sandbox/api/kernels/{kernel_id}/files/{path}`` → the file's bytes;
  ``...?list`` → the folder's entries ``{"path", "files": [...]}`` (empty path: /workspace);
* ``PUT .../files/{path}`` with the bytes → create or replace (201 + the file's info).

They forward to the kernel control endpoint's file routes (``kernel/control_files.py``), so
paths are checked by the runtime's files API as for the sandbox's own file calls. Uploads
larger than ``SandboxExtensionApp.max_upload_mib`` are refused (413) as they arrive
(``upload_limit``, shared with the sandbox service's file routes). Errors are JSON
``{"message": ...}``.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .control_client import ControlError, quote_path
from .kernel_api_base import KernelAPIHandler
from .upload_limit import UploadLimit

ROUTE = r"/sandbox/api/kernels/(?P<kernel_id>[^/]+)/files/(?P<path>.*)"


@web.stream_request_body
class KernelFilesHandler(UploadLimit, KernelAPIHandler):

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        self.start_upload()
        if self.request.method == "PUT" and self.current_user is None:
            raise web.HTTPError(403, "authentication required")

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str, path: str) -> None:
        try:
            response = await self.control.request(kernel_id, "GET", self.file_target(path))
        except ControlError as exc:
            raise web.HTTPError(exc.status, str(exc)) from exc
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
            raise web.HTTPError(413, self.too_large_message())
        try:
            response = await self.control.request(kernel_id, "PUT", self.file_target(path),
                                                  body=bytes(self.upload))
        except ControlError as exc:
            raise web.HTTPError(exc.status, str(exc)) from exc
        finally:
            self.upload = bytearray()
        self.set_status(201)
        self.finish(response.body)


HANDLERS = [(ROUTE, KernelFilesHandler)]
