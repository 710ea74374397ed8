"""File routes of the kernel's control endpoint, for the sandbox service. They call the
runtime's files API (``Sandbox.files``), so paths are validated exactly as there (relative to
``/workspace``; ``..`` stops at the root; read-only mounts stay read-only; the quota holds).

* ``GET /files/<path>`` → the file's bytes, sent in chunks; ``GET /files/<path>?list`` → the
  folder's entries as ``{"path", "files": [FileInfo...]}``.
* ``PUT /files/<path>`` with the bytes → create or replace (parent folders made), 201 + info.
* ``DELETE /files/<path>`` (``?recursive`` for a folder) → 204.

Errors are the protocol's envelope: 400 ``bad_path``, 404 ``not_found``, 409 ``is_a_folder``
(a folder where a file is expected), 413 ``quota_exceeded``.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
from collections.abc import Callable
from typing import Any, TypeVar

import tornado.iostream
import tornado.web

from jupyter_sandbox.runtime.errors import SandboxFileNotFoundError, SandboxPathError
from jupyter_sandbox.runtime.files import WORKSPACE, FileInfo

from .control_base import ControlHandler
from .control_protocol import FileInfoBody, FileListBody

T = TypeVar("T")
CHUNK = 1 << 20


def _info_body(info: FileInfo) -> FileInfoBody:
    return {"path": info.path, "name": info.name,
            "type": "directory" if info.is_dir else "file",
            "size": info.size, "mtime_ns": info.mtime_ns}


def _status_of(exc: SandboxPathError) -> tuple[int, str]:
    if isinstance(exc, SandboxFileNotFoundError):
        return 404, "not_found"
    if "quota" in exc.reason:
        return 413, "quota_exceeded"
    if exc.reason == "is a folder":
        return 409, "is_a_folder"
    return 400, "bad_path"


class FilesHandler(ControlHandler):
    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(func, *args)

    async def _answer(self, operation: Callable[[], Any]) -> None:
        """Run the coroutine function ``operation``; answer its path errors as JSON."""
        try:
            await operation()
        except (SandboxFileNotFoundError, SandboxPathError) as exc:
            status, code = _status_of(exc)  # type: ignore[arg-type]
            self.fail(status, str(exc), code)

    async def get(self, path: str) -> None:
        files = self.sandbox.files

        async def listing() -> None:
            folder = path or WORKSPACE
            entries = await self._run(files.list, folder)
            self.set_header("Content-Type", "application/json")
            body: FileListBody = {"path": files._path(folder),
                                  "files": [_info_body(entry) for entry in entries]}
            self.finish(json.dumps(body))

        async def download() -> None:
            info = await self._run(files.stat, path)
            if info.is_dir:
                self.fail(409, f"{info.path!r} is a folder", "is_a_folder",
                          hint="add ?list to the URL to list the folder")
                return
            data = await self._run(files.read_bytes, path)
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Length", str(len(data)))
            view = memoryview(data)
            try:
                for start in range(0, len(view), CHUNK):
                    self.write(bytes(view[start:start + CHUNK]))
                    await self.flush()
            except tornado.iostream.StreamClosedError:
                return
            self.finish()

        await self._answer(listing if "list" in self.request.arguments else download)

    async def put(self, path: str) -> None:
        files = self.sandbox.files

        async def upload() -> None:
            guest = files._path(path)
            if await self._run(files.exists, guest) and (await self._run(files.stat, guest)).is_dir:
                self.fail(409, f"{guest!r} is a folder", "is_a_folder",
                          hint="write to a path inside it, or delete it first (?recursive)")
                return
            await self._run(files.mkdir, posixpath.dirname(guest), True)
            await self._run(files.write_bytes, guest, self.request.body)
            info = await self._run(files.stat, guest)
            self.set_status(201)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(_info_body(info)))

        await self._answer(upload)

    async def delete(self, path: str) -> None:
        async def remove() -> None:
            await self._run(self.sandbox.files.delete, path,
                            "recursive" in self.request.arguments)
            self.set_status(204)
            self.finish()

        await self._answer(remove)


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/files/(.*)", FilesHandler),
]
