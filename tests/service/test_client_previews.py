"""``preview_client(port)`` of the Python client reaches a sandbox's preview app in both modes
of a real ``jupyter server``: the shared origin (the token on the link) and
``preview_host = {port}-{kernel}.localhost`` (the link's redirect to the preview's origin, the
one-time token exchanged for the preview cookie, ``*.localhost`` sent to 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from jupyter_sandbox.client import AsyncSandboxClient, SandboxClient
from tests.server.conftest import Server
from tests.service.conftest import temporary_server

pytestmark = pytest.mark.slow

PREVIEW_HOST = "{port}-{kernel}.localhost"
APP = r'''
import json
from jupyter_sandbox import serve

def echo(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"method": environ["REQUEST_METHOD"], "script": environ["SCRIPT_NAME"],
                        "path": environ["PATH_INFO"], "query": environ["QUERY_STRING"],
                        "body": body.decode(),
                        "cookie": environ.get("HTTP_COOKIE", "")}).encode()]

serve(echo, port=8000)
'''


@pytest.fixture(scope="module", params=["shared-origin", "preview-host"])
def server(request) -> Iterator[Server]:
    if request.param == "shared-origin":
        yield request.getfixturevalue("service_server")
        return
    yield from temporary_server(preview_host=PREVIEW_HOST)


def own_origins(server: Server) -> bool:
    """Whether the server gives previews origins of their own (asked through its API)."""
    with server.client() as http:
        return http.get("sandbox/api/preview-settings").json()["preview_host"] == PREVIEW_HOST


def test_the_sync_client_reaches_the_app_in_either_mode(server: Server) -> None:
    with SandboxClient(server.url, server.token) as client, client.create_sandbox() as sandbox:
        sandbox.exec(APP).raise_for_status()
        with sandbox.preview_client(8000) as preview:
            got = preview.get("hello/world", params={"x": "1"})
            posted = preview.post("form", content=b"a=1")
            root = str(preview.base_url)
    assert got.status_code == 200 and posted.status_code == 200, (got.text, posted.text)
    seen, sent = got.json(), posted.json()
    kernel = sandbox.kernel_id
    port = server.url.rsplit(":", 1)[1].rstrip("/")
    if own_origins(server):
        assert root == f"http://8000-{kernel}.localhost:{port}/"
        assert seen["script"] == ""
    else:
        assert root == f"{server.url}sandbox/preview/{kernel}/8000/"
        assert seen["script"] == f"/sandbox/preview/{kernel}/8000"
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/hello/world", "x=1")
    assert (sent["method"], sent["path"], sent["body"]) == ("POST", "/form", "a=1")
    assert "jupyter-sandbox-preview" not in seen["cookie"]  # the credential stays the proxy's


def test_the_async_client_reaches_the_app_in_either_mode(server: Server) -> None:
    async def run() -> tuple[httpx.Response, str | None]:
        async with AsyncSandboxClient(server.url, server.token) as client:
            async with await client.create_sandbox() as sandbox:
                (await sandbox.exec(APP)).raise_for_status()
                async with await sandbox.preview_client(8000) as preview:
                    return await preview.put("item", content=b"v"), await client.preview_host()

    got, mode = asyncio.run(run())
    assert got.status_code == 200, got.text
    assert (got.json()["method"], got.json()["path"], got.json()["body"]) == ("PUT", "/item", "v")
    assert mode == (PREVIEW_HOST if own_origins(server) else None)
