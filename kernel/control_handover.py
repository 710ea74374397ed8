"""``POST /handover`` of the kernel's control endpoint: a pre-started (pooled) kernel becomes
one user's sandbox (see ``control_protocol.HandoverRequest``).

A pool starts kernels with the server's maximum limits before anyone asks for them; at hand-over
the request's own limits are applied to the running sandbox (``Sandbox.lower_limits``: only
lowering, never below what is used) and its metadata kept, and — for a notebook's kernel — the
notebook's folder is mounted at ``/workspace``. Everything is checked before anything is
changed, and a kernel is handed over once: a second hand-over is 409, so a kernel already given
to one user can never be re-targeted at another's folder or limits.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import tornado.web

from jupyter_sandbox.runtime.config import HostFolderMode
from jupyter_sandbox.runtime.errors import LimitRaiseError, WorkspaceMountError
from jupyter_sandbox.runtime.sandbox import Sandbox

from . import workspace_handover
from .control_base import ControlHandler
from .control_protocol import (
    BAD_LIMITS,
    HANDOVER_HOST_FOLDER_MODES,
    HANDOVER_LIMITS,
    HandoverBody,
    HandoverLimits,
    HandoverRequest,
)

MiB = 1 << 20
#: Where the endpoint's application settings keep the hand-over (``HandoverBody``) once it
#: happened; ``CLAIMED`` while one is being applied.
SETTING = "handover"
CLAIMED = "handover_claimed"


class HandoverError(ValueError):
    """A hand-over request that is not a ``HandoverRequest`` (answered 400)."""


def parse(body: Any) -> HandoverRequest:
    """The request checked field by field; ``HandoverError`` says what is wrong."""
    if not isinstance(body, dict):
        raise HandoverError("the body must be a JSON object")
    unknown = set(body) - set(HandoverRequest.__annotations__)
    if unknown:
        raise HandoverError(f"unknown fields: {', '.join(sorted(unknown))}")
    request: HandoverRequest = {"limits": _limits(body.get("limits")),
                                "metadata": body.get("metadata") or {},
                                "host_folder": body.get("host_folder"),
                                "host_folder_mode": body.get("host_folder_mode"),
                                "notebook_path": body.get("notebook_path")}
    if not isinstance(request["metadata"], dict):
        raise HandoverError("\"metadata\" must be an object")
    folder = request["host_folder"]
    if folder is not None and not isinstance(folder, str):
        raise HandoverError("\"host_folder\" must be an absolute path or null")
    notebook = request.get("notebook_path")
    if notebook is not None and not isinstance(notebook, str):
        raise HandoverError("\"notebook_path\" must be a path or null")
    mode = request["host_folder_mode"]
    if mode is not None and mode not in HANDOVER_HOST_FOLDER_MODES:
        raise HandoverError(f"\"host_folder_mode\" must be one of "
                            f"{', '.join(HANDOVER_HOST_FOLDER_MODES)}")
    return request


def _limits(value: Any) -> HandoverLimits:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HandoverError("\"limits\" must be an object")
    unknown = set(value) - set(HANDOVER_LIMITS)
    if unknown:
        raise HandoverError(f"unknown limits: {', '.join(sorted(unknown))}")
    limits: HandoverLimits = {}
    for name, number in value.items():
        integral = name != "cell_timeout"
        kinds = (int,) if integral else (int, float)
        if (isinstance(number, bool) or not isinstance(number, kinds) or number < 0
                or not math.isfinite(number)):
            raise HandoverError(f"limits.{name} must be a non-negative "
                                f"{'integer' if integral else 'number'}")
        limits[name] = number  # type: ignore[literal-required]
    return limits


def apply_limits(sandbox: Sandbox, limits: HandoverLimits) -> dict[str, Any]:
    """Lower the running sandbox's limits (0 or absent: unchanged); its new limits as JSON."""
    memory = limits.get("memory_mib") or None
    workspace = limits.get("workspace_mib") or None
    timeout = limits.get("cell_timeout") or None
    new = sandbox.lower_limits(memory_bytes=None if memory is None else memory * MiB,
                               workspace_bytes=None if workspace is None else workspace * MiB,
                               cell_timeout=timeout)
    return {"memory_bytes": new.memory_bytes, "workspace_bytes": new.workspace_bytes,
            "workspace_files": new.workspace_files, "cell_timeout": new.cell_timeout,
            "output_bytes": new.output_bytes}


class HandoverHandler(ControlHandler):
    async def post(self) -> None:
        if self.settings.get(CLAIMED):
            self.fail(409, "this kernel was already handed over", hint="a pooled kernel is "
                      "handed over once; take another one from the pool")
            return
        try:
            request = parse(json.loads(self.request.body or b"{}"))
        except (HandoverError, ValueError) as exc:
            self.fail(400, str(exc))
            return
        self.settings[CLAIMED] = True  # before the first await: two hand-overs never both run
        try:
            await self._hand_over(request)
        finally:
            if self.settings.get(SETTING) is None:
                self.settings[CLAIMED] = False  # refused: nothing changed, may be retried

    async def _hand_over(self, request: HandoverRequest) -> None:
        folder: tuple[Path, HostFolderMode | None] | None = None
        if request["host_folder"] is not None:
            try:
                folder = workspace_handover.check(request["host_folder"],
                                                  request["host_folder_mode"])
            except WorkspaceMountError as exc:
                self.fail(400, str(exc), hint="hand over with the notebook's folder, an "
                          "absolute path of an existing folder")
                return
        try:
            limits = await asyncio.to_thread(apply_limits, self.sandbox, request["limits"])
        except (LimitRaiseError, ValueError) as exc:
            self.fail(400, str(exc), BAD_LIMITS)
            return
        mounted = None
        if folder is not None:
            try:
                mounted = await asyncio.to_thread(
                    workspace_handover.become_notebook_kernel, self.sandbox, *folder,
                    request.get("notebook_path"))
            except WorkspaceMountError as exc:
                self.fail(409, str(exc))
                return
        body: HandoverBody = {"limits": limits, "metadata": request["metadata"],
                              "host_folder": None if mounted is None else str(mounted)}
        self.settings[SETTING] = body
        self.send_json(200, body)


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/handover", HandoverHandler),
]
