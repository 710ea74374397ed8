"""Shared test set-up: every test and subprocess uses one compiled-module cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from jupyter_client.blocking.client import BlockingKernelClient

    from jupyter_sandbox.runtime.sandbox import ExecuteReply, Sandbox

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("JUPYTER_SANDBOX_CACHE_DIR", str(ROOT / ".cache" / "jupyter-sandbox"))


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox for tests that only read state they create themselves (fast)."""
    from jupyter_sandbox.runtime.sandbox import Sandbox

    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox per test."""
    from jupyter_sandbox.runtime.sandbox import Sandbox

    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def run(shared_sandbox):
    """Execute code in the shared sandbox; return (reply, messages)."""

    def run_code(code: str, sandbox=None, **kwargs):
        messages: list[dict] = []
        reply = (sandbox or shared_sandbox).execute(code, messages.append, **kwargs)
        return reply, messages

    return run_code


def stream_text(messages: list[dict], name: str = "stdout") -> str:
    return "".join(m["content"]["text"] for m in messages
                   if m["msg_type"] == "stream" and m["content"]["name"] == name)


def execute_cell(sandbox: Sandbox, code: str) -> tuple[ExecuteReply, str]:
    """Run ``code`` as a cell of ``sandbox``; return the reply and what it printed to stdout."""
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    return reply, stream_text(messages)


def execute_ok(sandbox: Sandbox, code: str) -> str:
    """``execute_cell`` for a cell that must succeed (a failure shows its error); its stdout."""
    reply, out = execute_cell(sandbox, code)
    assert reply.status == "ok", (reply.ename, reply.evalue, "\n".join(reply.traceback))
    return out


def kernel_cell(kc: BlockingKernelClient, code: str, timeout: float,
                name: str | None = None) -> tuple[dict, str]:
    """Execute ``code`` through a kernel client: (its execute_reply content, the text of its
    streams: all of them, or only ``name``'s, e.g. ``"stdout"``)."""
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, output_hook=outputs.append, timeout=timeout)
    text = "".join(m["content"].get("text", "") for m in outputs
                   if m["msg_type"] == "stream" and name in (None, m["content"]["name"]))
    return reply["content"], text
