"""How a sandbox starts (guest thread): from a snapshot image when given, else from the
machine's base image, else by booting the interpreter and bringing the shim up (and then saving
a base image for next time)."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING

from .. import base_image
from .. import snapshot as snapshot_format
from ..errors import SandboxError, SnapshotError
from ..guest_files import GUEST_SHIM_PATH, GUEST_SITE_PACKAGES
from ..packages import USER_SITE_GUEST_PATH
from ..protocol import StartRequest
from . import snapshots
from .layout import WORKSPACE
from .messages import Message, ignore
from .output import Operation

if TYPE_CHECKING:
    from . import Sandbox

log = logging.getLogger("jupyter_sandbox.sandbox")


class StartSource(StrEnum):
    """What a sandbox started from (``Sandbox.started_from``)."""

    SNAPSHOT = "snapshot"
    BASE_IMAGE = "base-image"
    BOOT = "boot"


def start(sandbox: Sandbox, image: snapshot_format.SnapshotImage | None,
          use_base_image: bool) -> None:
    """Bring the guest up; sets ``sandbox.started_from``."""
    if image is not None:
        snapshots.restore_image(sandbox, image, restore_files=True)
        sandbox.started_from = StartSource.SNAPSHOT
        return
    base = base_image.load(sandbox.snapshot_bounds) if use_base_image else None
    if base is not None:
        try:
            snapshots.restore_image(sandbox, base, restore_files=True)
        except SnapshotError as exc:
            log.warning("the base image cannot be used here (%s); booting instead", exc)
            base_image.discard(base)
        else:
            configure: StartRequest = {"type": "configure", "env": sandbox._guest_env(),
                                       "cwd": WORKSPACE,
                                       "execution_count": sandbox.execution_count}
            sandbox._operate(configure, Operation(on_message=ignore))
            sandbox.started_from = StartSource.BASE_IMAGE
            return
    boot(sandbox)
    key = base_image.key() if use_base_image and not sandbox.config.env else None
    if key is not None:
        base_image.save(snapshots.snapshot_bytes(sandbox, kind="base-image", key=key))


def boot(sandbox: Sandbox) -> None:
    """Start a fresh guest and bring the shim up (guest thread)."""
    instance = sandbox._instance = sandbox._new_instance(sandbox._new_wasi_state())
    setup = (f"import sys; sys.path[:0] = [{GUEST_SHIM_PATH!r}, {GUEST_SITE_PACKAGES!r}]; "
             f"sys.path.append({USER_SITE_GUEST_PATH!r})")
    if instance.turn(setup) != 0:
        raise SandboxError("the guest interpreter failed to start")
    request: StartRequest = {"type": "boot", "env": sandbox._guest_env(), "cwd": WORKSPACE,
                             "execution_count": sandbox.execution_count}
    said: list[str] = []

    def collect(message: Message) -> None:
        content = message["content"]
        said.append(content.get("text") or "\n".join(content.get("traceback") or []))

    try:
        sandbox._operate(request, Operation(on_message=collect, output_limit=1 << 20))
        # exec in a fresh namespace, so the imports leave no names in the user's __main__
        imports = f"for name in {base_image.WARM_IMPORTS!r}: __import__(name)"
        warm = f"exec({imports!r}, {{}})"
        if instance.turn(warm) != 0:
            raise SandboxError("warm imports failed")
    except SandboxError as exc:
        raise SandboxError(f"the guest shim failed to start: {exc}\n{''.join(said)}") from exc
