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
from typing import Any

import tornado.web

from jupyter_sandbox.runtime import snapshot as snapshot_format
from jupyter_sandbox.runtime.errors import SandboxError
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.snapshot_store import SnapshotNameError, SnapshotNotFoundError


class _SnapshotHandler(tornado.web.RequestHandler):
    @property
    def sandbox(self) -> Sandbox:
        return self.settings["sandbox"]

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self._json(status_code, {"error": self._reason})


class WholeSnapshotHandler(_SnapshotHandler):
    async def get(self) -> None:
        data = await asyncio.to_thread(self.sandbox.snapshot)
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(data)

    async def put(self) -> None:
        try:
            await asyncio.to_thread(self.sandbox.restore, self.request.body)
        except snapshot_format.SnapshotError as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, {"execution_count": self.sandbox.execution_count})


class NamedSnapshotsHandler(_SnapshotHandler):
    async def get(self) -> None:
        infos = await asyncio.to_thread(self.sandbox.snapshots.list)
        self._json(200, {"snapshots": [info.to_json() for info in infos]})


class NamedSnapshotHandler(_SnapshotHandler):
    async def _run(self, func: Any, *args: Any) -> tuple[bool, Any]:
        """(True, result), or (False, None) once an error answer has been sent."""
        try:
            return True, await asyncio.to_thread(func, *args)
        except SnapshotNotFoundError as exc:
            self._json(404, {"error": str(exc)})
        except (SnapshotNameError, SandboxError) as exc:
            self._json(400, {"error": str(exc)})
        return False, None

    async def post(self, name: str, action: str | None = None) -> None:
        if action == "restore":
            ok, _ = await self._run(self.sandbox.restore_named, name)
            if ok:
                self._json(200, {"name": name, "execution_count": self.sandbox.execution_count})
            return
        ok, info = await self._run(self.sandbox.save_named, name)
        if ok:
            self._json(201, info.to_json())

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
