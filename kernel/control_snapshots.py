"""Snapshot routes of the kernel's control endpoint (see ``control_protocol``):

* ``GET /snapshot`` → the whole sandbox as snapshot bytes (taken between cells).
* ``PUT /snapshot`` with snapshot bytes → restore; 400 ``bad_snapshot`` (the protocol's error
  envelope) when the snapshot cannot be used (the sandbox is then untouched).
* ``GET /snapshots`` → the named snapshots (``%snapshot``) as JSON.
* ``POST /snapshots/<name>`` → save one; ``POST /snapshots/<name>/restore``;
  ``DELETE /snapshots/<name>``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import tornado.web

from jupyter_sandbox.runtime import snapshot as snapshot_format
from jupyter_sandbox.runtime.errors import SandboxError
from jupyter_sandbox.runtime.snapshot_store import (
    SnapshotInfo,
    SnapshotNameError,
    SnapshotNotFoundError,
)

from .control_base import ControlHandler
from .control_protocol import (
    OCTET_STREAM,
    NamedRestoreBody,
    RestoreBody,
    SnapshotInfoBody,
    SnapshotListBody,
)


class _SnapshotHandler(ControlHandler):
    def _json(self, status: int, body: RestoreBody | NamedRestoreBody | SnapshotInfoBody
              | SnapshotListBody) -> None:
        self.send_json(status, body)


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
            self.fail(400, str(exc), "bad_snapshot")
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
            self.fail(404, str(exc), hint="list the named snapshots with GET /snapshots")
        except SnapshotNameError as exc:
            self.fail(400, str(exc), "bad_name")
        except SandboxError as exc:
            self.fail(400, str(exc), "bad_snapshot")
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
