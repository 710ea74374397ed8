"""The values a sandbox hands to its callers: messages, replies, usage, queued preview jobs.

Kept apart from the ``Sandbox`` facade so the host side of previews (``runtime/previews.py``)
can name them without importing the facade back (no import cycle).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..protocol import Message, StopReason, Unchecked

OnMessage = Callable[[Message], None]
#: Asked for ``input()``/``getpass``: (prompt, password) -> the line. Raise KeyboardInterrupt
#: to interrupt the waiting cell.
InputHandler = Callable[[str, bool], str]


def ignore(_message: Message) -> None:
    """An ``OnMessage`` for operations whose output nobody reads."""
    return None


@dataclass
class ExecuteReply:
    """The outcome of one cell, shaped like a Jupyter execute_reply."""

    status: str
    execution_count: int
    user_expressions: dict[str, Any] = field(default_factory=dict)
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    #: IPython payloads (the pager's ``obj?`` output), as in ipykernel's reply.
    payload: list[dict[str, Any]] = field(default_factory=list)
    #: Set when the cell killed the interpreter and the sandbox was started again.
    restarted: bool = False


@dataclass(frozen=True)
class Usage:
    memory_bytes: int
    memory_limit: int
    workspace_bytes: int
    workspace_files: int
    workspace_bytes_limit: int
    workspace_files_limit: int


@dataclass
class PreviewJob:
    """A queued preview operation: its future (the guest's reply) and a way to interrupt it."""

    #: The guest's reply (``protocol.PreviewReply`` as the shim sends it, unchecked).
    future: concurrent.futures.Future[Unchecked]
    interrupt: Callable[[StopReason], None]
