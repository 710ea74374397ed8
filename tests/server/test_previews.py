"""Preview URLs end to end: a real jupyter server, a Sandboxed Python kernel started through
its REST API, apps registered with ``jupyter_sandbox.serve``, real HTTP/WebSocket clients.

Every test runs in both modes of the server: previews on the shared Jupyter origin, and
previews on origins of their own (``preview_host={port}-{kernel}.localhost``)."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import httpx
import pytest
import websockets.exceptions

from .conftest import display_data, start_kernel, stop_kernel
from .preview_access import PreviewAccess

SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"

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


@pytest.fixture(scope="module", params=["shared-origin", "preview-host"])
def apps(request) -> PreviewAccess:
    server = request.getfixturevalue(
        "jupyter_server" if request.param == "shared-origin" else "preview_host_server")
    kernel = start_kernel(server)
    try:
        outputs = kernel.run(APPS)
        bundle = display_data(outputs, "application/vnd.jupyter-sandbox.preview+json")
        assert bundle["url"] == kernel.preview_url(8000)  # the Jupyter-origin link, both modes
        assert kernel.preview_url(8000) in display_data(outputs, "text/html")
        yield PreviewAccess(kernel)
    finally:
        stop_kernel(kernel)


def http(apps: PreviewAccess, **kwargs) -> httpx.Client:
    return apps.client(**kwargs)


def calls(apps: PreviewAccess) -> int:
    outputs = apps.kernel.run("len(calls)")
    return int(display_data(outputs, "text/plain"))


def test_wsgi_app_gets_prefix_forwarded_headers_and_no_jupyter_credentials(apps):
    token = apps.kernel.server.token
    url = apps.url(8000, "hello?a=1&token=" + token + "&b=%C3%A9")
    referer = f"{apps.kernel.server.url}lab?token={token}"
    if apps.shared:  # authenticated by the token parameter only
        with apps.anonymous() as client:
            response = client.get(url, headers={"Cookie": "mine=1; _xsrf=abc", "Referer": referer})
    else:  # the preview cookie (the Jupyter token means nothing on the preview origin)
        with http(apps) as client:
            response = client.get(url, headers={"Cookie": "mine=1; _xsrf=abc", "Referer": referer})
    assert response.status_code == 200, response.text
    info = response.json()
    prefix = apps.prefix(8000)
    assert info["script_name"] == prefix
    assert info["path"] == "/hello"
    assert info["query"] == "a=1&b=%C3%A9"
    headers = info["headers"]
    assert headers["HTTP_X_FORWARDED_PREFIX"] == prefix
    assert headers["HTTP_X_FORWARDED_PROTO"] == "http"
    assert headers["HTTP_HOST"] == headers["HTTP_X_FORWARDED_HOST"] == apps.netloc(8000)
    assert "HTTP_AUTHORIZATION" not in headers
    assert "HTTP_REFERER" not in headers
    assert token not in response.text
    csp = response.headers.get_list("content-security-policy")
    if apps.shared:
        assert "HTTP_COOKIE" not in headers  # no cookie at all on the shared origin
        # The app's cookie is dropped (Jupyter's own login cookie, set for ?token=, may pass).
        assert not [c for c in response.headers.get_list("set-cookie") if c.startswith("app=")]
        assert SANDBOX_CSP in csp
    else:
        assert headers["HTTP_COOKIE"] == "mine=1"  # the app's own; not _xsrf, not ours
        assert "app=1" in response.headers.get_list("set-cookie")
        assert SANDBOX_CSP not in csp


def test_authorization_header_is_not_forwarded(apps):
    with http(apps) as client:
        info = client.get(apps.url(8000, "x"),
                          headers={"Authorization": f"token {apps.kernel.server.token}"}).json()
    assert "HTTP_AUTHORIZATION" not in info["headers"]


def test_non_ascii_path(apps):
    with http(apps) as client:
        response = client.get(apps.url(8000, "caf%C3%A9/%E2%9C%93"))
    assert response.json()["path"] == "/café/✓"


def test_post_5_mb_body(apps):
    body = bytes(range(256)) * (5 * 1024 * 4)
    with http(apps) as client:
        response = client.post(apps.url(8000, "upload"), content=body,
                               headers={"Content-Type": "application/octet-stream"})
    info = response.json()
    assert info["method"] == "POST"
    assert info["body_length"] == len(body) == 5 * 1024 * 1024
    assert info["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_head_and_options(apps):
    with http(apps) as client:
        head = client.head(apps.url(8000, "x"))
        options = client.options(apps.url(8000, "x"))
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, POST, OPTIONS"


def test_redirect_stays_under_prefix(apps):
    with http(apps) as client:
        response = client.get(apps.url(8000, "redirect"))
    assert response.status_code == 302
    assert response.headers["location"] == f"{apps.prefix(8000)}/target?x=1"


def test_streaming_response_arrives_as_produced(apps):
    gate = apps.kernel.server.root_dir / "go-on"
    gate.unlink(missing_ok=True)
    with http(apps) as client, client.stream("GET", apps.url(8000, "stream")) as response:
        chunks = response.iter_bytes()
        # The app cannot produce its second chunk before the client has seen the first.
        assert next(chunks) == b"first\n"
        gate.write_text("go")
        assert b"".join(chunks) == b"second\n"
    gate.unlink()


def test_static_site_with_relative_asset(apps):
    with http(apps) as client:
        page = client.get(apps.url(8002))
        asset = client.get(apps.url(8002, "css/style.css"))
        folder = client.get(apps.url(8002, "css"))
        escape = client.get(apps.url(8002, "%2e%2e/%2e%2e/etc/passwd"))
    assert page.status_code == 200 and "<h1>Hello</h1>" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/css")
    assert asset.text == "h1 { color: green }"
    assert folder.status_code == 301 and folder.headers["location"] == "css/"
    assert escape.status_code == 404


def test_asgi_http_scope(apps):
    with http(apps) as client:
        info = client.get(apps.url(8001, "api?q=1")).json()
    assert info["root_path"] == apps.prefix(8001)
    assert info["path"] == info["root_path"] + "/api"
    assert info["query"] == "q=1"


def test_asgi_websocket_echo(apps):
    with apps.ws(8001, "ws") as ws:
        ws.send("hello")
        assert ws.recv(timeout=30) == "echo:hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=30) == b"\x03\x02\x01"
        ws.send("second")
        assert ws.recv(timeout=30) == "echo:second"


def test_unauthenticated_requests_get_403_and_reach_no_guest_code(apps):
    before = calls(apps)
    with apps.anonymous() as client:
        for method in ("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE"):
            response = client.request(method, apps.url(8000, "x"))
            assert response.status_code == 403, method
        wrong = client.get(apps.url(8000, "x?token=wrong"))
        assert wrong.status_code == 403
        # The Jupyter token is no credential on a preview origin (nor its header).
        jupyter = client.get(apps.url(8000, f"x?token={apps.kernel.server.token}"),
                             headers={"Authorization": f"token {apps.kernel.server.token}"})
        assert jupyter.status_code == (200 if apps.shared else 403)
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        apps.ws(8001, "ws", authenticated=False)
    assert refused.value.response.status_code == 403
    assert calls(apps) == before + (1 if apps.shared else 0)


def test_errors_are_fixed_texts(apps):
    jupyter = apps.kernel.server.url
    with http(apps) as client:
        nothing = client.get(apps.url(8009))
        failing = client.get(apps.url(8000, "fail"))
    with apps.kernel.server.client() as client:
        bad_port = client.get(f"{jupyter}sandbox/preview/{apps.id}/<b>x</b>/")
        big_port = client.get(f"{jupyter}sandbox/preview/{apps.id}/70000/")
        unknown = client.get(f"{jupyter}sandbox/preview/%3Cscript%3Ealert(1)%3C%2Fscript%3E/8000/")
    assert nothing.status_code == 502 and "port 8009" in nothing.text
    assert bad_port.status_code == 400 and "<b>" not in bad_port.text
    assert big_port.status_code == 400
    assert unknown.status_code == 404 and "script" not in unknown.text
    assert failing.status_code == 500 and "secret detail" not in failing.text


def test_200_concurrent_requests_all_answered(apps):
    async def main() -> list[httpx.Response]:
        async with apps.async_client(timeout=120,
                                     limits=httpx.Limits(max_connections=50)) as client:
            return await asyncio.gather(*(client.get(apps.url(8000, f"n?i={i}"))
                                          for i in range(200)))

    if not apps.shared:
        apps.session(8000)  # the cookie first, not 200 exchanges at once
    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 200
    assert [r.json()["query"] for r in responses] == [f"i={i}" for i in range(200)]
    assert apps.kernel.stdout("print(6 * 7)") == "42\n"


def test_interrupt_while_a_request_is_in_flight(apps):
    outcome: list[object] = []
    started = threading.Event()

    def request() -> None:
        try:
            with http(apps) as client, client.stream("GET", apps.url(8000, "forever")) as r:
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
    with apps.kernel.server.client() as client:
        assert client.post(f"api/kernels/{apps.id}/interrupt").status_code == 204
    thread.join(60)
    assert outcome[0] == b"started\n"
    assert isinstance(outcome[1], httpx.HTTPError)  # cut off, not a silent complete response
    assert apps.kernel.stdout("print('still here')") == "still here\n"
    with http(apps) as client:
        assert client.get(apps.url(8000, "again")).json()["path"] == "/again"
