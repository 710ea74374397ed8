"""Issue 12, item 8 (previews): a preview app's answer is bounded and checked like any other
guest message. A real sandbox and the host's ``PreviewGateway`` (what the kernel's control
endpoint runs): a response chunk larger than ``PREVIEW_MESSAGE_BYTES`` is never read and the
response is cut (not silently truncated); a forged chunk that is not base64 cuts it too;
forged ``http.start`` messages of the wrong shape are dropped; the sandbox goes on."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_sandbox.runtime.previews import (
    HttpRequest,
    PreviewGateway,
    ResponseAborted,
    ResponseStart,
)

APPS = '''
from jupyter_sandbox import serve
from jupyter_sandbox_guest import bridge

def huge(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [b"x" * (100 << 20)]          # ~133 MiB once base64-encoded: past the bound

def forged(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    bridge.send("http.start", {"status": "200", "headers": "all of them"})  # wrong shape
    bridge.send("http.start", {"status": 200, "headers": [["X-Forged", "1", "extra"]]})
    yield b"real start first\\n"
    bridge.send("http.body", {"data": "%%% not base64 %%%"})
    yield b"never seen\\n"

serve(huge, port=8001)
serve(forged, port=8002)
'''


@pytest.fixture
def served(sandbox):
    reply = sandbox.execute(APPS)
    assert reply.status == "ok", reply.traceback
    return sandbox


def fetch(
    gateway: PreviewGateway, port: int
) -> tuple[list[ResponseStart], bytes, Exception | None]:
    async def go() -> tuple[list[ResponseStart], bytes, Exception | None]:
        starts, chunks = [], []
        try:
            async for part in gateway.http(HttpRequest(port=port, method="GET")):
                if isinstance(part, ResponseStart):
                    starts.append(part)
                else:
                    chunks.append(part)
        except ResponseAborted as exc:
            return starts, b"".join(chunks), exc
        return starts, b"".join(chunks), None

    return asyncio.run(go())


def test_a_chunk_too_large_to_read_cuts_the_response(served):
    starts, body, aborted = fetch(PreviewGateway(served), 8001)
    assert [s.status for s in starts] == [200]
    assert body == b""
    assert isinstance(aborted, ResponseAborted)
    assert served.execute("1 + 1").status == "ok"


def test_forged_messages_are_dropped_or_cut_the_response(served):
    starts, body, aborted = fetch(PreviewGateway(served), 8002)
    assert [(s.status, dict(s.headers).get("Content-Type")) for s in starts] == \
        [(200, "text/plain")]  # the two malformed starts never arrived
    assert body == b"real start first\n"
    assert isinstance(aborted, ResponseAborted) and "not base64" in str(aborted)
    assert served.execute("1 + 1").status == "ok"
