"""execute requests: run a cell through IPython and build the reply."""

from __future__ import annotations

from typing import Any


def execute(shell: Any, request: dict[str, Any]) -> dict[str, Any]:
    silent = bool(request.get("silent"))
    store_history = bool(request.get("store_history", True)) and not silent
    shell.last_error = None
    result = shell.run_cell(request.get("code", ""), store_history=store_history, silent=silent)
    reply: dict[str, Any] = {"execution_count": shell.execution_count - 1,
                             "payload": shell.payload_manager.read_payload()}
    shell.payload_manager.clear_payload()
    failed = result.error_before_exec is not None or result.error_in_exec is not None
    if failed:
        error = shell.last_error or _describe(result.error_before_exec or result.error_in_exec)
        reply.update(status="error", **error)
        reply["user_expressions"] = {}
    else:
        reply["status"] = "ok"
        expressions = request.get("user_expressions") or {}
        reply["user_expressions"] = shell.user_expressions(expressions) if expressions else {}
    return reply


def _describe(exc: BaseException | None) -> dict[str, Any]:
    if exc is None:
        return {"ename": "UnknownError", "evalue": "", "traceback": []}
    return {"ename": type(exc).__name__, "evalue": str(exc), "traceback": []}
