"""What the process table tells its callers about a process: plain, frozen values
(INTERFACES.md A), safe to hand to any thread and to serialise as JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ProcessState(StrEnum):
    RUNNING = "running"
    EXITED = "exited"
    KILLED = "killed"


@dataclass(frozen=True)
class ProcessInfo:
    """One process as it is now. ``started_at``/``ended_at`` are wall-clock (``time.time()``);
    ``origin`` is ``"cell"`` (started by guest code) or ``"api"`` (by a host caller)."""

    pid: int
    argv: list[str]
    cwd: str
    state: ProcessState
    exit_code: int | None
    started_at: float
    ended_at: float | None
    background: bool
    origin: str
    memory_bytes: int

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        data["argv"] = list(self.argv)
        return data


@dataclass(frozen=True)
class OutputChunk:
    """One write of a process to its stdout or stderr, as kept in its log. ``offset`` is the
    chunk's index in the log (0, 1, 2…), so a reader re-attaches with the next index."""

    stream: str
    data: bytes
    offset: int
