"""Non-ASCII paths reach preview apps as PEP 3333 and the ASGI spec say, decoded exactly once:
WSGI ``PATH_INFO`` is the URL-decoded bytes as latin-1 text (a Flask-like router gets its
UTF-8 back with ``.encode('latin-1').decode('utf-8')``), ASGI ``path`` the UTF-8 text and
``raw_path`` the bytes the browser sent. Both percent-encoded and raw UTF-8 request lines (the
latter used to arrive encoded twice, ``/hello/wÃ\\x83Â¶rld``), in both modes."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.server.conftest import start_kernel, stop_kernel
from tests.server.preview_access import MODES, PreviewAccess, server_for

pytestmark = pytest.mark.slow

APPS = r'''
import json
from jupyter_sandbox import serve

def router(environ, start_response):
    """Routes like Flask/werkzeug: on the UTF-8 text of PATH_INFO."""
    path = environ["PATH_INFO"].encode("latin-1").decode("utf-8")
    if not path.startswith("/hello/"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no route"]
    body = json.dumps({"name": path[len("/hello/"):], "path_info": environ["PATH_INFO"],
                       "script_name": environ["SCRIPT_NAME"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

async def scope_app(scope, receive, send):
    await receive()
    body = json.dumps({"path": scope["path"], "root_path": scope["root_path"],
                       "raw_path": scope["raw_path"].decode("latin-1")}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

serve(router, port=8000)
serve(scope_app, port=8001)
'''
WORLD = "wörld"
#: What PEP 3333 says PATH_INFO holds for /hello/wörld.
WSGI_WORLD = WORLD.encode("utf-8").decode("latin-1")


@pytest.fixture(scope="module", params=MODES)
def site(request) -> PreviewAccess:
    kernel = start_kernel(server_for(request))
    try:
        kernel.run(APPS)
        yield PreviewAccess(kernel)
    finally:
        stop_kernel(kernel)


class _RawLine(http.client.HTTPConnection):
    """Sends the request line's bytes as given (latin-1 text), as curl or a browser extension
    might: raw UTF-8 rather than percent-escapes."""

    def _encode_request(self, request: str) -> bytes:
        return request.encode("latin-1")


def raw_get(site: PreviewAccess, port: int, path: bytes) -> dict:
    full = site.prefix(port).encode() + path
    connection = _RawLine("127.0.0.1", site.server_port, timeout=60)
    try:
        connection.putrequest("GET", full.decode("latin-1"), skip_host=True)
        connection.putheader("Host", site.netloc(port))
        for name, value in site.credentials(port).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200, body
    return json.loads(body)


def test_wsgi_path_info_is_latin1_of_the_utf8_bytes(site):
    with site.client() as client:
        escaped = client.get(site.url(8000, "hello/w%C3%B6rld")).json()
    raw = raw_get(site, 8000, "/hello/wörld".encode())
    for info in (escaped, raw):
        assert info["name"] == WORLD
        assert info["path_info"] == "/hello/" + WSGI_WORLD
        assert info["script_name"] == site.prefix(8000)


def test_asgi_path_is_utf8_and_raw_path_the_bytes_sent(site):
    prefix = site.prefix(8001)
    with site.client() as client:
        escaped = client.get(site.url(8001, "hello/w%C3%B6rld")).json()
    assert escaped["path"] == f"{prefix}/hello/{WORLD}"
    assert escaped["root_path"] == prefix
    assert escaped["raw_path"] == f"{prefix}/hello/w%C3%B6rld"
    raw = raw_get(site, 8001, "/hello/wörld".encode())
    assert raw["path"] == f"{prefix}/hello/{WORLD}"
    assert raw["raw_path"].encode("latin-1") == f"{prefix}/hello/wörld".encode()
