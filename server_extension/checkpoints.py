"""``SandboxCheckpoints``: notebook checkpoints that also hold the sandbox's whole state.

Many checkpoints per file (ids match ``[\\w-]+``). Creating one stores the file and, when a
sandboxed kernel runs for that notebook, a snapshot of its sandbox. Restoring brings back the
file and, when the notebook's kernel runs, its state; when none runs, the next kernel started
for the notebook starts from the snapshot. Renames and deletes carry checkpoints along; old
ones are pruned by count per file and total bytes, never the newest of a file.

Layout: ``<root>/<key>/<id>/{file, meta.json, sandbox.snap}``, where the key hashes the file's
real location on the host (``control_protocol.notebook_key``), never its path relative to the
server's root: two servers (or two roots) sharing a Jupyter data folder, each with a notebook
``work/analysis.ipynb``, must not list, revert to or prune each other's checkpoints.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_server.services.contents.checkpoints import (
    AsyncCheckpoints,
    AsyncGenericCheckpointsMixin,
)
from tornado.web import HTTPError
from traitlets import Any as AnyTrait
from traitlets import Int, Unicode, default

from jupyter_sandbox.kernel import control_protocol as protocol
from jupyter_sandbox.kernel.control_protocol import atomic_write

from .control_client import ControlClient, ControlError

CHECKPOINT_ID = re.compile(r"^[\w-]{1,100}$", re.ASCII)
SNAPSHOT_FILE = "sandbox.snap"


class SandboxCheckpoints(AsyncGenericCheckpointsMixin, AsyncCheckpoints):
    root = Unicode(help="Folder holding the checkpoints; default: sandbox/checkpoints in "
                   "Jupyter's data directory.").tag(config=True)
    max_per_file = Int(10, help="Checkpoints kept per file; older ones are pruned."
                       ).tag(config=True)
    max_total_bytes = Int(4 << 30, help="Total size of all checkpoints; the oldest are pruned "
                          "beyond it (the newest of each file never).").tag(config=True)
    #: The ServerApp, for its session and kernel managers: by default the parent of our
    #: parent, the contents manager (``ContentsManager.checkpoints_class`` makes us with
    #: ``parent=contents_manager``, which the ServerApp made with ``parent=self``).
    serverapp = AnyTrait(None)

    @default("serverapp")
    def _server_of_the_contents_manager(self) -> Any:
        server = getattr(self.parent, "parent", None)
        if hasattr(server, "kernel_manager") and hasattr(server, "session_manager"):
            return server
        return None

    @default("root")
    def _default_root(self) -> str:
        return str(protocol.state_root() / "checkpoints")

    # -- storage ------------------------------------------------------------------------
    def _root_dir(self) -> str:
        """The real path of the folder the server serves (its contents manager's root)."""
        for owner in (self.parent, getattr(self.serverapp, "contents_manager", None)):
            root_dir = getattr(owner, "root_dir", None)
            if isinstance(root_dir, str) and root_dir:
                return os.path.realpath(root_dir)
        return os.path.realpath(os.getcwd())  # jupyter_server's own default root

    def _os_path(self, path: str) -> str:
        """Where the file at the server path ``path`` really is on the host."""
        return os.path.realpath(os.path.join(self._root_dir(), path.strip("/")))

    def _folder(self, path: str) -> Path:
        return Path(self.root) / protocol.notebook_key(self._os_path(path))

    def _checkpoint(self, checkpoint_id: str, path: str) -> Path:
        if not isinstance(checkpoint_id, str) or not CHECKPOINT_ID.match(checkpoint_id):
            raise HTTPError(400, f"invalid checkpoint id {checkpoint_id!r}")
        folder = self._folder(path) / checkpoint_id
        if not (folder / "meta.json").is_file():
            raise HTTPError(404, f"checkpoint {checkpoint_id} does not exist for {path}")
        return folder

    @staticmethod
    def _meta(folder: Path) -> dict[str, Any]:
        return json.loads((folder / "meta.json").read_text())

    def _model(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {"id": meta["id"],
                "last_modified": datetime.fromtimestamp(meta["created"], tz=UTC)}

    def _all(self, path: str) -> list[dict[str, Any]]:
        folder = self._folder(path)
        if not folder.is_dir():
            return []
        metas = []
        for entry in folder.iterdir():
            try:
                metas.append(self._meta(entry))
            except (OSError, ValueError):
                continue  # half-written or foreign: not a checkpoint
        return sorted(metas, key=lambda m: (m["created"], m["id"]))

    def _new(self, path: str, kind: str, content: Any,
             fmt: str | None) -> tuple[Path, dict[str, Any]]:
        checkpoint_id = time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        folder = self._folder(path) / checkpoint_id
        folder.mkdir(parents=True)
        if kind == "notebook":
            data = json.dumps(content).encode()
        elif fmt == "base64":
            data = base64.b64decode(content)
        else:
            data = str(content).encode()
        atomic_write(folder / "file", data)
        meta = {"id": checkpoint_id, "path": path.strip("/"), "os_path": self._os_path(path),
                "type": kind, "format": fmt, "created": time.time(), "snapshot": False}
        (folder.parent / "path.txt").write_text(path)
        atomic_write(folder / "meta.json", json.dumps(meta).encode())
        return folder, meta

    # -- the kernel of a notebook -------------------------------------------------------
    def _control(self) -> ControlClient | None:
        """The extension's one control client (in the server's settings once the extension
        has loaded); None without a server or the extension: checkpoints then hold files only."""
        web_app = getattr(self.serverapp, "web_app", None)
        control = getattr(web_app, "settings", {}).get("jupyter_sandbox_control")
        if control is None and self.serverapp is not None \
                and not getattr(self, "_warned_no_control", False):
            self._warned_no_control = True
            self.log.warning("jupyter_sandbox: the server extension is not loaded, so notebook "
                             "checkpoints hold no sandbox state; enable it with `jupyter server "
                             "extension enable jupyter_sandbox`")
        return control

    async def _kernel_for(self, path: str) -> str | None:
        """The id of a running sandboxed kernel whose session is this notebook."""
        control = self._control()
        if control is None:
            return None
        wanted = path.strip("/")
        for session in await self.serverapp.session_manager.list_sessions():
            kernel = session.get("kernel") or {}
            if (session.get("path") or "").strip("/") == wanted and \
                    control.socket_for(kernel.get("id", "")):
                return str(kernel["id"])
        return None

    # -- the generic mixin's storage API -------------------------------------------------
    async def create_notebook_checkpoint(self, nb: Any, path: str) -> dict[str, Any]:
        folder, meta = self._new(path, "notebook", nb, None)
        await self._attach_snapshot(folder, meta, path)
        self._prune(path)
        return self._model(meta)

    async def create_file_checkpoint(self, content: Any, format: str, path: str) -> dict[str, Any]:
        _, meta = self._new(path, "file", content, format)
        self._prune(path)
        return self._model(meta)

    async def _attach_snapshot(self, folder: Path, meta: dict[str, Any], path: str) -> None:
        kernel_id = await self._kernel_for(path)
        control = self._control()
        if kernel_id is None or control is None:
            return
        try:
            data = bytes((await control.request(kernel_id, "GET", "/snapshot")).body)
        except ControlError as exc:
            self.log.warning("checkpoint of %s without sandbox state: %s", path, exc)
            return
        await asyncio.to_thread(atomic_write, folder / SNAPSHOT_FILE, data)
        meta.update(snapshot=True, kernel_id=kernel_id, snapshot_bytes=len(data))
        atomic_write(folder / "meta.json", json.dumps(meta).encode())

    async def get_notebook_checkpoint(self, checkpoint_id: str, path: str) -> dict[str, Any]:
        folder = self._checkpoint(checkpoint_id, path)
        content = json.loads((folder / "file").read_bytes())
        return {"type": "notebook", "content": content}

    async def get_file_checkpoint(self, checkpoint_id: str, path: str) -> dict[str, Any]:
        folder = self._checkpoint(checkpoint_id, path)
        meta, data = self._meta(folder), (folder / "file").read_bytes()
        if meta.get("format") == "base64":
            return {"type": "file", "content": base64.b64encode(data).decode(), "format": "base64"}
        return {"type": "file", "content": data.decode(), "format": "text"}

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        folder = self._checkpoint(checkpoint_id, path)
        await super().restore_checkpoint(contents_mgr, checkpoint_id, path)
        snapshot = folder / SNAPSHOT_FILE
        if not snapshot.is_file():
            return
        data = await asyncio.to_thread(snapshot.read_bytes)
        kernel_id = await self._kernel_for(path)
        control = self._control()
        if kernel_id is not None and control is not None:
            try:
                await control.request(kernel_id, "PUT", "/snapshot", data)
            except ControlError as exc:
                raise HTTPError(409, f"the notebook was restored but its kernel refused the "
                                     f"checkpoint's sandbox state: {exc}") from exc
            return
        pending = protocol.pending_restore_path(self._os_path(path))
        await asyncio.to_thread(atomic_write, pending, data)

    # -- listing, renaming, deleting ------------------------------------------------------
    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        return [self._model(meta) for meta in self._all(path)]

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        shutil.rmtree(self._checkpoint(checkpoint_id, path))

    async def delete_all_checkpoints(self, path: str) -> None:
        shutil.rmtree(self._folder(path), ignore_errors=True)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        source = self._checkpoint(checkpoint_id, old_path)
        target = self._folder(new_path) / checkpoint_id
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        meta = self._meta(target)
        meta["path"], meta["os_path"] = new_path.strip("/"), self._os_path(new_path)
        atomic_write(target / "meta.json", json.dumps(meta).encode())
        (target.parent / "path.txt").write_text(new_path)

    async def rename_all_checkpoints(self, old_path: str, new_path: str) -> None:
        for meta in self._all(old_path):
            await self.rename_checkpoint(meta["id"], old_path, new_path)
        shutil.rmtree(self._folder(old_path), ignore_errors=True)

    # -- pruning --------------------------------------------------------------------------
    def _prune(self, path: str) -> None:
        for meta in self._all(path)[: -self.max_per_file or None]:
            shutil.rmtree(self._folder(path) / meta["id"], ignore_errors=True)
        self._prune_total()

    def _is_ours(self, meta: dict[str, Any]) -> bool:
        """Whether a checkpoint belongs to a file below this server's root (the total-size
        budget is per root: another project's checkpoints in a shared data folder are
        never pruned from here)."""
        os_path, root_dir = meta.get("os_path"), self._root_dir()
        return isinstance(os_path, str) and (
            os_path == root_dir or os_path.startswith(root_dir.rstrip(os.sep) + os.sep))

    def _prune_total(self) -> None:
        root = Path(self.root)
        entries = []  # (created, folder, size, is newest of its file)
        for file_folder in root.iterdir() if root.is_dir() else ():
            metas = []
            for candidate in file_folder.iterdir() if file_folder.is_dir() else ():
                try:
                    meta = self._meta(candidate)
                except (OSError, ValueError):
                    continue  # half-written or foreign: not a checkpoint
                if self._is_ours(meta):
                    metas.append((meta["created"], candidate))
            metas.sort(key=lambda item: item[0])
            for index, (created, folder) in enumerate(metas):
                size = sum(f.stat().st_size for f in folder.iterdir())
                entries.append((created, folder, size, index == len(metas) - 1))
        total = sum(size for _, _, size, _ in entries)
        for _created, folder, size, newest in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_total_bytes:
                break
            if not newest:
                shutil.rmtree(folder, ignore_errors=True)
                total -= size
