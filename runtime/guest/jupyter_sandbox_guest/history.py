"""history requests, answered from IPython's history manager as ipykernel does."""

from __future__ import annotations

from typing import Any


def history(shell: Any, request: dict[str, Any]) -> dict[str, Any]:
    manager = shell.history_manager
    raw, output = bool(request.get("raw", True)), bool(request.get("output", False))
    kind = request.get("hist_access_type")
    if kind == "tail":
        entries = manager.get_tail(int(request.get("n") or 10), raw=raw, output=output,
                                   include_latest=True)
    elif kind == "range":
        entries = manager.get_range(int(request.get("session") or 0),
                                    int(request.get("start") or 1),
                                    request.get("stop"), raw=raw, output=output)
    elif kind == "search":
        entries = manager.search(request.get("pattern") or "*", raw=raw, output=output,
                                 n=request.get("n"), unique=bool(request.get("unique")))
    else:
        entries = []
    # IPython numbers the current session 0 in some answers; the protocol wants the real one.
    current = manager.session_number
    return {"status": "ok",
            "history": [[entry[0] or current, *entry[1:]] for entry in entries]}
