"""Snapshot routes of the kernel's control endpoint (see ``control_protocol``):

* ``GET /snapshot`` → the whole sandbox as snapshot bytes (taken between cells).
* ``PUT /snapshot`` with snapshot bytes → restore; 400 with ``{"error": ...}`` when the
  snapshot cannot be used (the sandbox is then untouched).
* ``GET /snapshots`` → the named snapshots (``%snapshot``) as JSON.
* ``POST /snapshots/<name>`` → save one; ``POST /snapshots/<name>/restore``;
  ``DELETE /snapshots/<name>``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import tornado.web

from jupyter_sandbox.runtime import snapshot as snapshot_format
from jupyter_sandbox.runtime.errors import SandboxError
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.snapshot_store import (
    SnapshotInfo,
    SnapshotNameError,
    SnapshotNotFoundError,
)

from .control_protocol import (
    JSON,
    OCTET_STREAM,
    ErrorBody,
    NamedRestoreBody,
    RestoreBody,
    SnapshotInfoBody,
    SnapshotListBody,
)


class _SnapshotHandler(tornado.web.RequestHandler):
    @property
    def sandbox(self) -> Sandbox:
        return self.settings["sandbox"]

    def _json(self, status: int, body: ErrorBody | RestoreBody | NamedRestoreBody
              | SnapshotInfoBody | SnapshotListBody) -> None:
        self.set_status(status)
        self.set_header("Content-Type", JSON)
        self.finish(json.dumps(body))

    def _fail(self, status: int, message: str) -> None:
        body: ErrorBody = {"error": message}
        self._json(status, body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self._fail(status_code, self._reason)


def _info(info: SnapshotInfo) -> SnapshotInfoBody:
    """``SnapshotInfo.to_json()`` has exactly the fields of ``SnapshotInfoBody``."""
    return cast(SnapshotInfoBody, info.to_json())


class WholeSnapshotHandler(_SnapshotHandler):
    async def get(self) -> None:
        data = await asyncio.to_thread(self.sandbox.snapshot)
        self.set_header("Content-Type", OCTET_STREAM)
        self.finish(data)

    async def put(self) -> None:
        try:
            await asyncio.to_thread(self.sandbox.restore, self.request.body)
        except snapshot_format.SnapshotError as exc:
            self._fail(400, str(exc))
            return
        body: RestoreBody = {"execution_count": self.sandbox.execution_count}
        self._json(200, body)


class NamedSnapshotsHandler(_SnapshotHandler):
    async def get(self) -> None:
        infos = await asyncio.to_thread(self.sandbox.snapshots.list)
        body: SnapshotListBody = {"snapshots": [_info(info) for info in infos]}
        self._json(200, body)


class NamedSnapshotHandler(_SnapshotHandler):
    async def _run(self, func: Any, *args: Any) -> tuple[bool, Any]:
        """(True, result), or (False, None) once an error answer has been sent."""
        try:
            return True, await asyncio.to_thread(func, *args)
        except SnapshotNotFoundError as exc:
            self._fail(404, str(exc))
        except (SnapshotNameError, SandboxError) as exc:
            self._fail(400, str(exc))
        return False, None

    async def post(self, name: str, action: str | None = None) -> None:
        if action == "restore":
            ok, _ = await self._run(self.sandbox.restore_named, name)
            if ok:
                body: NamedRestoreBody = {"name": name,
                                          "execution_count": self.sandbox.execution_count}
                self._json(200, body)
            return
        ok, info = await self._run(self.sandbox.save_named, name)
        if ok:
            self._json(201, _info(info))

    async def delete(self, name: str, action: str | None = None) -> None:
        if action is not None:
            raise tornado.web.HTTPError(405)
        ok, _ = await self._run(self.sandbox.snapshots.delete, name)
        if ok:
            self.set_status(204)
            self.finish()


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/snapshot", WholeSnapshotHandler),
    (r"/snapshots", NamedSnapshotsHandler),
    (r"/snapshots/([^/]+)(?:/(restore))?", NamedSnapshotHandler),
]
