"""Jupyter comms (ipywidgets and friends) between guest code and the front end.

Guest → front end: ``comm.create_comm()`` returns a :class:`HostComm`, whose messages go to the
host as ``comm_open``/``comm_msg``/``comm_close`` output messages. Their content is the Jupyter
protocol's (``comm_id``, ``data``, and for ``comm_open`` ``target_name``/``target_module``);
binary buffers travel base64-encoded in an extra ``content["buffers"]`` list, present only when
there are buffers (the host moves them out into the message's buffers).

Front end → guest: the host's ``comm`` request (``msg_type``, ``content``, base64 ``buffers``)
is handed to :func:`handle_front_end_message`, which routes it to the comm's handlers as
ipykernel does, so a widget changed in the browser changes the Python object.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import comm
from comm.base_comm import BaseComm, BuffersType, CommManager, MaybeDict

from . import bridge

_manager: CommManager | None = None


class HostComm(BaseComm):
    """A comm whose messages go to the host."""

    def publish_msg(self, msg_type: str, data: MaybeDict = None, metadata: MaybeDict = None,
                    buffers: BuffersType = None, **keys: Any) -> None:
        from .shell import flush_streams

        flush_streams()
        content: dict[str, Any] = {"data": {} if data is None else data, "comm_id": self.comm_id}
        content.update(keys)
        if buffers:
            content["buffers"] = [base64.b64encode(memoryview(b).cast("B")).decode("ascii")
                                  for b in buffers]
        bridge.send(msg_type, content, metadata or {})


def _create_comm(*args: Any, **kwargs: Any) -> BaseComm:
    return HostComm(*args, **kwargs)


def _get_comm_manager() -> CommManager:
    global _manager
    if _manager is None:
        _manager = CommManager()
    return _manager


def install() -> None:
    """Make the ``comm`` package (used by ipywidgets) create host comms."""
    comm.create_comm = _create_comm
    comm.get_comm_manager = _get_comm_manager


_ROUTES = {"comm_open": CommManager.comm_open, "comm_msg": CommManager.comm_msg,
           "comm_close": CommManager.comm_close}


def handle_front_end_message(request: dict[str, Any]) -> dict[str, Any]:
    """Route a front end's comm message to the guest comm it is for."""
    msg_type = str(request.get("msg_type", ""))
    route = _ROUTES.get(msg_type)
    if route is None:
        return {"status": "error", "ename": "ValueError",
                "evalue": f"not a comm message type: {msg_type!r} (expected one of "
                          f"{', '.join(_ROUTES)})"}
    content = dict(request.get("content") or {})
    if "comm_id" not in content:
        return {"status": "error", "ename": "ValueError",
                "evalue": f"the {msg_type} message has no comm_id"}
    msg: dict[str, Any] = {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type},
        "msg_id": "", "msg_type": msg_type, "parent_header": {},
        "metadata": dict(request.get("metadata") or {}),
        "content": content,
        "buffers": [memoryview(base64.b64decode(b)) for b in request.get("buffers") or []],
    }
    msg["msg_id"] = msg["header"]["msg_id"]
    route(_get_comm_manager(), None, "", msg)  # type: ignore[arg-type]
    return {"status": "ok"}


def comm_info(target_name: str | None = None) -> dict[str, Any]:
    """The open comms, optionally only those of one target (a comm_info_reply)."""
    comms = {comm_id: {"target_name": c.target_name}
             for comm_id, c in _get_comm_manager().comms.items()
             if not target_name or c.target_name == target_name}
    return {"status": "ok", "comms": comms}


__all__ = ["HostComm", "comm_info", "handle_front_end_message", "install"]
