"""The guest's side of ``_host.call``: JSON requests to the host (see the host's
``jupyter_sandbox.runtime.protocol`` for the message catalogue)."""

from __future__ import annotations

import base64
import datetime
import json
import numbers
from typing import Any

import _host


def json_default(obj: Any) -> Any:
    """Values JSON lacks, as jupyter_client's ``json_default`` sends them: bytes (a PNG from
    ``_repr_png_``) as base64 text, dates as ISO 8601, numbers and collections as their JSON
    kin; anything else as its ``repr`` rather than failing the message."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, (set, frozenset, tuple)) or type(obj).__name__ == "ndarray":
        return list(obj)
    return repr(obj)


def call(op: str, **fields: Any) -> dict[str, Any]:
    fields["op"] = op
    reply = _host.call(json.dumps(fields, default=json_default).encode("utf-8", "surrogatepass"))
    return json.loads(reply) if reply else {}


def send(msg_type: str, content: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
    """Send one Jupyter-shaped output message to the host."""
    call("message", msg_type=msg_type, content=content, metadata=metadata or {})
