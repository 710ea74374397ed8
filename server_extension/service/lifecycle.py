"""How long a service sandbox lives: its ``timeout`` (lifetime), ``idle_timeout`` and what
happens when either passes (``on_timeout``), chosen per sandbox at create within the service's
defaults and maxima (``LifecyclePolicy``), and why a sandbox stopped (``StopReason``).

As E2B's ``timeout``/``onTimeout`` and Cloudflare's ``sleepAfter``/``keepAlive``:

* ``timeout`` — seconds a sandbox may run from its start, its last resume or its last
  ``keep_alive``; 0: no limit.
* ``idle_timeout`` — seconds it may stay unused (no request of the service, no message of a
  notebook attached to its kernel); 0: never.
* ``on_timeout`` — ``"stop"``: snapshot it and stop its kernel; the next request that needs it
  resumes it from that snapshot (variables, imports and files kept). ``"delete"``: delete it
  (record, snapshots and files); later requests get 404.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .errors import ServiceError

#: The create body's fields this module reads (``LifecyclePolicy.choose``).
FIELDS = ("timeout", "idle_timeout", "on_timeout")


def is_finite_number(value: Any) -> bool:
    """A JSON number a float can hold (not a bool, NaN, infinity or a 400-digit integer)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class OnTimeout(str, Enum):
    STOP = "stop"
    DELETE = "delete"


class StopReason(str, Enum):
    """Why a sandbox is stopped (its record's ``stopped_reason``)."""

    #: Unused for ``idle_timeout`` seconds.
    IDLE = "idle"
    #: Its ``timeout`` (lifetime) passed.
    TIMEOUT = "timeout"
    #: The Jupyter server was stopped cleanly (it snapshotted the sandbox first).
    SERVER_STOPPED = "server-stopped"
    #: The Jupyter server ended without stopping it (killed, crashed): it resumes from its last
    #: recovery point.
    SERVER_LOST = "server-lost"
    #: Its kernel was shut down or died outside the service (JupyterLab, a crash): it resumes
    #: from its last recovery point.
    KILLED = "killed"


@dataclass(frozen=True)
class Lifecycle:
    """One sandbox's timers (seconds; 0: none) and what their expiry does."""

    timeout: float
    idle_timeout: float
    on_timeout: OnTimeout

    def to_json(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "idle_timeout": self.idle_timeout,
                "on_timeout": self.on_timeout.value}


@dataclass(frozen=True)
class LifecyclePolicy:
    """The service's defaults and maxima (``SandboxExtensionApp`` traits; 0: no maximum)."""

    timeout: float
    idle_timeout: float
    on_timeout: OnTimeout
    max_timeout: float = 0.0
    max_idle_timeout: float = 0.0

    @classmethod
    def of(cls, timeout: float, idle_timeout: float, on_timeout: str, max_timeout: float,
           max_idle_timeout: float) -> LifecyclePolicy:
        """From the traits; a default beyond its maximum is lowered to it."""
        def capped(value: float, maximum: float) -> float:
            return maximum if maximum > 0 and (value <= 0 or value > maximum) else value

        return cls(capped(timeout, max_timeout), capped(idle_timeout, max_idle_timeout),
                   OnTimeout(on_timeout), max_timeout, max_idle_timeout)

    @property
    def default(self) -> Lifecycle:
        return Lifecycle(self.timeout, self.idle_timeout, self.on_timeout)

    def choose(self, body: Mapping[str, Any], base: Lifecycle | None = None) -> Lifecycle:
        """The lifecycle a create body (or a stored record) asks for: its ``timeout``,
        ``idle_timeout`` and ``on_timeout`` where given, else ``base``'s (default: the
        service's); 400 ``ServiceError`` for a value out of type or range."""
        chosen = base or self.default
        timeout = self.seconds(body, "timeout", self.max_timeout, chosen.timeout)
        idle = self.seconds(body, "idle_timeout", self.max_idle_timeout, chosen.idle_timeout)
        on_timeout = body.get("on_timeout", chosen.on_timeout.value)
        if on_timeout not in {o.value for o in OnTimeout}:
            raise ServiceError(400, f"\"on_timeout\" must be \"stop\" or \"delete\", not "
                                    f"{on_timeout!r}")
        return Lifecycle(timeout, idle, OnTimeout(on_timeout))

    @staticmethod
    def seconds(body: Mapping[str, Any], name: str, maximum: float, default: float) -> float:
        """``body[name]``: seconds, 0 (none) up to ``maximum`` (0: no maximum)."""
        value = body.get(name, default)
        if value is None:
            value = default
        if not is_finite_number(value):
            raise ServiceError(400, f"\"{name}\" must be a number of seconds (0: none)")
        if value < 0:
            raise ServiceError(400, f"\"{name}\" must not be negative (0: none)")
        if maximum > 0 and (value == 0 or value > maximum):
            raise ServiceError(400, f"\"{name}\" may be at most {maximum:g} seconds on this "
                                    "server (0, no limit, is not allowed here)")
        return float(value)
