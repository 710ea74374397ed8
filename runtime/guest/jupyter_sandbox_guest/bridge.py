"""The guest's side of ``_host.call``: JSON requests to the host (see the host's
``jupyter_sandbox.runtime.protocol`` for the message catalogue)."""

from __future__ import annotations

import json
from typing import Any

import _host


def call(op: str, **fields: Any) -> dict[str, Any]:
    fields["op"] = op
    reply = _host.call(json.dumps(fields, default=repr).encode("utf-8", "surrogatepass"))
    return json.loads(reply) if reply else {}


def send(msg_type: str, content: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
    """Send one Jupyter-shaped output message to the host."""
    call("message", msg_type=msg_type, content=content, metadata=metadata or {})
