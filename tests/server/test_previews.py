"""Preview URLs end to end: a real jupyter server, a Sandboxed Python kernel started through
its REST API, apps registered with ``jupyter_sandbox.serve``, real HTTP/WebSocket clients."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import httpx
import pytest
import websockets.exceptions
from websockets.sync.client import connect

from .conftest import Kernel, display_data

pytestmark = pytest.mark.slow

APPS = r'''
import hashlib, json, os, time
from jupyter_sandbox import serve, stop, previews

calls = []

def wsgi_app(environ, start_response):
    path = environ["PATH_INFO"]
    calls.append(path)
    if path == "/redirect":
        start_response("302 Found", [("Location", "/target?x=1")])
        return [b""]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def chunks():
            yield b"first\n"
            while not os.path.exists("/workspace/go-on"):   # the client creates it
                time.sleep(0.02)
            yield b"second\n"
        return chunks()
    if path == "/forever":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def chunks():
            yield b"started\n"
            while True:
                time.sleep(0.02)
        return chunks()
    if path == "/fail":
        raise RuntimeError("secret detail from the app")
    if environ["REQUEST_METHOD"] == "OPTIONS":
        start_response("204 No Content", [("Allow", "GET, HEAD, POST, OPTIONS")])
        return []
    body = environ["wsgi.input"].read()
    info = {"method": environ["REQUEST_METHOD"], "path": path.encode("latin-1").decode(),
            "script_name": environ["SCRIPT_NAME"], "query": environ["QUERY_STRING"],
            "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
            "scheme": environ["wsgi.url_scheme"], "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest()}
    data = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data))), ("Set-Cookie", "app=1")])
    return [data]

async def asgi_app(scope, receive, send):
    if scope["type"] == "websocket":
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
            else:
                await send({"type": "websocket.send", "text": "echo:" + message["text"]})
    else:
        await receive()
        body = json.dumps({"path": scope["path"], "root_path": scope["root_path"],
                           "query": scope["query_string"].decode()}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

os.makedirs("site/css", exist_ok=True)
with open("site/index.html", "w") as f:
    f.write('<link rel="stylesheet" href="css/style.css"><h1>Hello</h1>')
with open("site/css/style.css", "w") as f:
    f.write("h1 { color: green }")
serve(asgi_app, port=8001)
serve(directory="site", port=8002)
serve(wsgi_app, port=8000)
'''


@pytest.fixture(scope="module")
def apps(kernel: Kernel) -> Kernel:
    outputs = kernel.run(APPS)
    bundle = display_data(outputs, "application/vnd.jupyter-sandbox.preview+json")
    assert bundle["url"] == kernel.preview_url(8000)
    assert kernel.preview_url(8000) in display_data(outputs, "text/html")
    return kernel


def http(kernel: Kernel, **kwargs) -> httpx.Client:
    return kernel.server.client(**kwargs)


def calls(kernel: Kernel) -> int:
    outputs = kernel.run("len(calls)")
    return int(display_data(outputs, "text/plain"))


def test_wsgi_app_gets_prefix_forwarded_headers_and_no_jupyter_credentials(apps):
    url = apps.preview_url(8000, "hello?a=1&token=" + apps.server.token + "&b=%C3%A9")
    with httpx.Client(timeout=60) as client:  # authenticated by the token parameter only
        response = client.get(url, headers={"Cookie": "mine=1; _xsrf=abc"})
    assert response.status_code == 200
    info = response.json()
    prefix = f"/sandbox/preview/{apps.id}/8000"
    assert info["script_name"] == prefix
    assert info["path"] == "/hello"
    assert info["query"] == "a=1&b=%C3%A9"
    headers = info["headers"]
    assert headers["HTTP_X_FORWARDED_PREFIX"] == prefix
    assert headers["HTTP_X_FORWARDED_PROTO"] == "http"
    assert headers["HTTP_HOST"] == headers["HTTP_X_FORWARDED_HOST"] == response.url.netloc.decode()
    assert headers["HTTP_COOKIE"] == "mine=1"
    assert "HTTP_AUTHORIZATION" not in headers
    assert "app=1" in response.headers.get_list("set-cookie")


def test_authorization_header_is_not_forwarded(apps):
    with http(apps) as client:
        info = client.get(apps.preview_url(8000, "x")).json()
    assert "HTTP_AUTHORIZATION" not in info["headers"]


def test_non_ascii_path(apps):
    with http(apps) as client:
        response = client.get(apps.preview_url(8000, "caf%C3%A9/%E2%9C%93"))
    assert response.json()["path"] == "/café/✓"


def test_post_5_mb_body(apps):
    body = bytes(range(256)) * (5 * 1024 * 4)
    with http(apps) as client:
        response = client.post(apps.preview_url(8000, "upload"), content=body,
                               headers={"Content-Type": "application/octet-stream"})
    info = response.json()
    assert info["method"] == "POST"
    assert info["body_length"] == len(body) == 5 * 1024 * 1024
    assert info["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_head_and_options(apps):
    with http(apps) as client:
        head = client.head(apps.preview_url(8000, "x"))
        options = client.options(apps.preview_url(8000, "x"))
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, POST, OPTIONS"


def test_redirect_stays_under_prefix(apps):
    with http(apps) as client:
        response = client.get(apps.preview_url(8000, "redirect"))
    assert response.status_code == 302
    assert response.headers["location"] == f"/sandbox/preview/{apps.id}/8000/target?x=1"


def test_streaming_response_arrives_as_produced(apps):
    gate = apps.server.root_dir / "go-on"
    gate.unlink(missing_ok=True)
    with http(apps) as client, client.stream("GET", apps.preview_url(8000, "stream")) as response:
        chunks = response.iter_bytes()
        # The app cannot produce its second chunk before the client has seen the first.
        assert next(chunks) == b"first\n"
        gate.write_text("go")
        assert b"".join(chunks) == b"second\n"
    gate.unlink()


def test_static_site_with_relative_asset(apps):
    with http(apps) as client:
        page = client.get(apps.preview_url(8002))
        asset = client.get(apps.preview_url(8002, "css/style.css"))
        folder = client.get(apps.preview_url(8002, "css"))
        escape = client.get(apps.preview_url(8002, "%2e%2e/%2e%2e/etc/passwd"))
    assert page.status_code == 200 and "<h1>Hello</h1>" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/css")
    assert asset.text == "h1 { color: green }"
    assert folder.status_code == 301 and folder.headers["location"] == "css/"
    assert escape.status_code == 404


def test_asgi_http_scope(apps):
    with http(apps) as client:
        info = client.get(apps.preview_url(8001, "api?q=1")).json()
    assert info["root_path"] == f"/sandbox/preview/{apps.id}/8001"
    assert info["path"] == info["root_path"] + "/api"
    assert info["query"] == "q=1"


def ws_url(kernel: Kernel, port: int, path: str = "") -> str:
    return kernel.preview_url(port, path).replace("http://", "ws://", 1)


def test_asgi_websocket_echo(apps):
    with connect(ws_url(apps, 8001, "ws"),
                 additional_headers={"Authorization": f"token {apps.server.token}"}) as ws:
        ws.send("hello")
        assert ws.recv(timeout=30) == "echo:hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=30) == b"\x03\x02\x01"
        ws.send("second")
        assert ws.recv(timeout=30) == "echo:second"


def test_unauthenticated_requests_get_403_and_reach_no_guest_code(apps):
    before = calls(apps)
    with httpx.Client(timeout=60) as client:
        for method in ("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE"):
            response = client.request(method, apps.preview_url(8000, "x"))
            assert response.status_code == 403, method
        wrong = client.get(apps.preview_url(8000, "x?token=wrong"))
        assert wrong.status_code == 403
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(ws_url(apps, 8001, "ws"))
    assert refused.value.response.status_code == 403
    assert calls(apps) == before


def test_errors_are_fixed_texts(apps):
    with http(apps) as client:
        nothing = client.get(apps.preview_url(8009))
        bad_port = client.get(f"{apps.server.url}sandbox/preview/{apps.id}/<b>x</b>/")
        big_port = client.get(f"{apps.server.url}sandbox/preview/{apps.id}/70000/")
        unknown = client.get(f"{apps.server.url}sandbox/preview/%3Cscript%3Ealert(1)%3C%2Fscript%3E/8000/")
        failing = client.get(apps.preview_url(8000, "fail"))
    assert nothing.status_code == 502 and "port 8009" in nothing.text
    assert bad_port.status_code == 400 and "<b>" not in bad_port.text
    assert big_port.status_code == 400
    assert unknown.status_code == 404 and "script" not in unknown.text
    assert failing.status_code == 500 and "secret detail" not in failing.text


def test_200_concurrent_requests_all_answered(apps):
    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(timeout=120, limits=limits, headers={
                "Authorization": f"token {apps.server.token}"}) as client:
            return await asyncio.gather(*(client.get(apps.preview_url(8000, f"n?i={i}"))
                                          for i in range(200)))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 200
    assert [r.json()["query"] for r in responses] == [f"i={i}" for i in range(200)]
    assert apps.stdout("print(6 * 7)") == "42\n"


def test_interrupt_while_a_request_is_in_flight(apps):
    outcome: list[object] = []
    started = threading.Event()

    def request() -> None:
        try:
            with http(apps) as client, client.stream("GET", apps.preview_url(8000, "forever")) as r:
                chunks = r.iter_bytes()
                outcome.append(next(chunks))
                started.set()
                outcome.append(b"".join(chunks))
        except httpx.HTTPError as exc:
            outcome.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=request)
    thread.start()
    assert started.wait(60)
    with http(apps) as client:
        assert client.post(f"api/kernels/{apps.id}/interrupt").status_code == 204
    thread.join(60)
    assert outcome[0] == b"started\n"
    assert isinstance(outcome[1], httpx.HTTPError)  # cut off, not a silent complete response
    assert apps.stdout("print('still here')") == "still here\n"
    with http(apps) as client:
        assert client.get(apps.preview_url(8000, "again")).json()["path"] == "/again"
