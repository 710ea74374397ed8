"""Previews at the runtime level: ``jupyter_sandbox.serve`` in the guest and the host's
``PreviewGateway`` (busy sandbox, time and size limits, registry), without a server."""

from __future__ import annotations

import asyncio
import threading

import pytest

from jupyter_sandbox.runtime.previews import (
    HttpRequest,
    PreviewGateway,
    PreviewLimits,
    ResponseStart,
)

APP = '''
import time
from jupyter_sandbox import serve, stop, previews
calls = []
def app(environ, start_response):
    calls.append(environ["PATH_INFO"])
    if environ["PATH_INFO"] == "/slow":
        while True:
            time.sleep(0.02)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
preview = serve(app, port=8000)
'''


def fetch(gateway: PreviewGateway, path: str = "/", body: bytes = b"", port: int = 8000):
    async def go() -> tuple[int, bytes]:
        status, chunks = 0, []
        async for part in gateway.http(HttpRequest(port=port, method="POST", path=path, body=body)):
            if isinstance(part, ResponseStart):
                status = part.status
            else:
                chunks.append(part)
        return status, b"".join(chunks)

    return asyncio.run(go())


@pytest.fixture
def served(sandbox):
    reply = sandbox.execute(APP)
    assert reply.status == "ok", reply.traceback
    return sandbox


def test_busy_sandbox_answers_503_then_serves_after_the_cell(served, tmp_path):
    started = threading.Event()

    def on_message(message):
        if message["msg_type"] == "stream":
            started.set()

    cell = threading.Thread(target=served.execute, args=(
        "import os, time\nprint('waiting', flush=True)\n"
        "while not os.path.exists('/workspace/go'):\n    time.sleep(0.02)\n", on_message))
    cell.start()
    assert started.wait(60)
    gateway = PreviewGateway(served, PreviewLimits(busy_timeout=0.2))
    status, body = fetch(gateway)
    assert status == 503 and b"busy" in body
    (served.state_dir / "workspace" / "go").write_text("")
    cell.join(60)
    assert fetch(gateway) == (200, b"ok")


def test_request_time_limit_gives_504_and_the_sandbox_goes_on(served):
    gateway = PreviewGateway(served, PreviewLimits(request_timeout=0.5))
    status, body = fetch(gateway, "/slow")
    assert status == 504
    assert fetch(gateway) == (200, b"ok")
    assert served.execute("1 + 1").status == "ok"


def _calls(sandbox) -> str:
    messages: list[dict] = []
    assert sandbox.execute("calls", messages.append).status == "ok"
    return messages[-1]["content"]["data"]["text/plain"]


def test_body_limit_gives_413_without_calling_the_app(served):
    gateway = PreviewGateway(served, PreviewLimits(max_body_bytes=10))
    status, _ = fetch(gateway, "/too-big", body=b"x" * 11)
    assert status == 413
    assert _calls(served) == "[]"
    assert fetch(gateway, "/small", body=b"x" * 10) == (200, b"ok")
    assert _calls(served) == "['/small']"


def test_stop_and_previews(served):
    gateway = PreviewGateway(served)
    messages = []
    reply = served.execute("[p.port for p in previews()], stop(8000), stop(8000), previews()",
                           messages.append)
    assert reply.status == "ok"
    assert messages[-1]["content"]["data"]["text/plain"] == "([8000], True, False, [])"
    status, body = fetch(gateway)
    assert status == 502 and b"Nothing is served on port 8000" in body


def test_preview_repr_without_server_says_previews_need_it(served):
    messages = []
    served.execute("preview", messages.append)
    data = messages[-1]["content"]["data"]
    assert "previews need the Jupyter server" in data["text/plain"]
    assert data["application/vnd.jupyter-sandbox.preview+json"]["url"] is None


@pytest.mark.parametrize(("code", "ename", "evalue"), [
    ("serve(app, port=0)", "ValueError", "port must be an integer from 1 to 65535, got 0"),
    ("serve(app, port='80')", "ValueError", "port must be an integer from 1 to 65535, got '80'"),
    ("serve(None)", "TypeError", "serve() needs either an app or directory=..., not both"),
    ("serve(app, directory='.')", "TypeError",
     "serve() needs either an app or directory=..., not both"),
    ("serve(directory='/no/such/folder')", "FileNotFoundError",
     "serve(directory=...): no such folder: /no/such/folder"),
])
def test_serve_rejects_bad_arguments(served, code, ename, evalue):
    reply = served.execute(code)
    assert (reply.status, reply.ename, reply.evalue) == ("error", ename, evalue)
    assert served.previews_list() == [8000]  # the app served before is still the only one
