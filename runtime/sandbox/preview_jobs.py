"""Preview requests as sandbox operations: queued behind any running cell, under their own time
limit. The HTTP and WebSocket side is ``runtime/previews.py``; this module never imports it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import GuestDiedError
from ..protocol import PreviewRequest, Unchecked
from . import operations, recovery
from .messages import OnMessage, PreviewJob
from .output import Operation

if TYPE_CHECKING:
    from . import Sandbox


def submit(sandbox: Sandbox, request: PreviewRequest, on_message: OnMessage,
           on_start: Callable[[], None] | None, timeout: float | None,
           on_timeout: Callable[[], None] | None) -> PreviewJob:
    """Queue a preview request; see ``Sandbox.submit_preview``."""
    cell = Operation(on_message=on_message, output_limit=sandbox.config.limits.output_bytes,
                     preview=True, on_timeout=on_timeout)

    def run() -> Unchecked:
        if on_start is not None:
            on_start()
        if timeout is not None:
            operations.start_clock(sandbox, cell, timeout, "the preview request")
        try:
            return sandbox._operate(request, cell)
        except GuestDiedError as exc:
            recovery.restart_after_death(sandbox, cell, str(exc))
            raise
        finally:
            if timeout is not None:
                sandbox._clock.stop()

    return PreviewJob(sandbox._submit(run),
                      lambda why: operations.interrupt(sandbox, cell, why))
