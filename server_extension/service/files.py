"""Files of a sandbox, under ``{base_url}sandbox/api/v1/sandboxes/{id}/files/{path}``:

* ``GET`` → the file's bytes (streamed as they come from the sandbox); ``GET ...?list`` → the
  folder's entries; ``PUT`` with the bytes → create or replace (201); ``DELETE`` (``?recursive``
  for folders) → 204.

Paths are checked by the runtime's files API inside the kernel, exactly as for the sandbox's
own file calls. A write or delete is in the sandbox's recovery point on disk before it is
answered (``SandboxRegistry.checkpoint``), so it survives the server being killed. Uploads
larger than ``SandboxExtensionApp.max_upload_mib`` are refused (413); the body is counted as
it arrives and never held beyond that limit.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.http1connection import HTTP1Connection
from tornado.httputil import HTTPHeaders

from ..handlers.upload_limit import UploadLimit
from .base import ServiceHandler
from .errors import ServiceError
from .sandboxes import ID, PREFIX


def _ignore_failure(future: Any) -> None:
    future.exception()


@web.stream_request_body
class FilesHandler(UploadLimit, ServiceHandler):
    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        self.start_upload()
        if self.request.method == "PUT" and self.current_user is None:
            raise ServiceError(403, "uploading needs a Jupyter login or the server's token")

    @web.authenticated
    @authorized
    async def get(self, sandbox_id: str, path: str) -> None:
        record = self.registry.get(sandbox_id)

        def on_headers(_status: int, _reason: str, headers: HTTPHeaders) -> None:
            self.set_header("Content-Type", headers.get("content-type", "application/octet-stream"))
            if "content-length" in headers:
                self.set_header("Content-Length", headers["content-length"])

        def on_chunk(data: bytes) -> None:
            self.write(data)
            self.flush().add_done_callback(_ignore_failure)

        async with self.registry.use(record) as kernel_id:
            status = await self.registry.control.stream(
                kernel_id, "GET", self.file_target(path), None, on_headers, on_chunk)
        if status >= 400:  # broke off mid-way: the client sees a short body, not a bad file
            if isinstance(self.request.connection, HTTP1Connection):
                self.request.connection.close()
            return
        self.finish(set_content_type=self._headers.get("Content-Type", "application/json"))

    @web.authenticated
    @authorized
    async def put(self, sandbox_id: str, path: str) -> None:
        if self.upload_too_large:
            raise self.too_large_error()
        record = self.registry.get(sandbox_id)
        async with self.registry.use(record) as kernel_id:
            response = await self.registry.control.request(kernel_id, "PUT", self.file_target(path),
                                                     bytes(self.upload))
            await self.registry.checkpoint(record)  # on disk before we answer
        self.upload = bytearray()
        self.send_json(json.loads(response.body), 201)

    @web.authenticated
    @authorized
    async def delete(self, sandbox_id: str, path: str) -> None:
        record = self.registry.get(sandbox_id)
        async with self.registry.use(record) as kernel_id:
            await self.registry.control.request(kernel_id, "DELETE", self.file_target(path))
            await self.registry.checkpoint(record)
        self.set_status(204)
        self.finish()


ROUTES = [(PREFIX + rf"/sandboxes/{ID}/files/(?P<path>.*)", FilesHandler)]
