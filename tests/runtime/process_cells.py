"""Cells for the sandbox-process tests: run one in a sandbox and keep every message it sent
(``cell``), or require it to succeed and get its stdout (``ok``)."""

from __future__ import annotations

from jupyter_sandbox.runtime.sandbox import ExecuteReply, Sandbox
from tests.conftest import stream_text


def cell(box: Sandbox, code: str) -> tuple[ExecuteReply, list[dict]]:
    messages: list[dict] = []
    reply = box.execute(code, messages.append)
    return reply, messages


def ok(box: Sandbox, code: str) -> str:
    reply, messages = cell(box, code)
    assert reply.status == "ok", (reply, messages)
    return stream_text(messages)
