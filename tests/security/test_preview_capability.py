"""Previews on the shared Jupyter origin below a capability path (no ``preview_host``), against
a real ``jupyter server`` and real Sandboxed Python kernels.

The sandboxed page (opaque origin) cannot send Jupyter's login cookie with its own requests,
so a logged-in browser's navigation to the link is redirected to
``.../{kernel}/{port}/~{capability}/{path}``, where the page's assets, API, form posts and
WebSockets need no cookie. Attacks and guarantees:

* only a cookie-authenticated *navigation* gets a capability; API clients with the token are
  proxied as before; not logged in → 403, unknown kernel → 404, no capability issued;
* a capability opens only its own kernel's port (another port, another running kernel, a
  forged or expired one → 403 text/plain, "reopen the preview from its link");
* it is worth nothing on the Jupyter API (as a token, a cookie, or through ``..`` segments);
* a state-changing request or a WebSocket from another site (``Origin`` not ``null`` nor the
  Jupyter origin) is refused before the app runs;
* nothing of Jupyter's reaches the guest (cookies, token, ``Authorization``, ``Referer``,
  XSRF header); the app's cookies are dropped; every response is sandboxed and says
  ``Referrer-Policy: no-referrer`` whatever the app sends;
* the app is mounted below the capability (``SCRIPT_NAME`` / ``root_path``) and its redirects
  stay below it;
* ``preview_host`` mode keeps its own redirect (no capability route there).
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import time
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
import websockets.exceptions
from websockets.sync.client import ClientConnection, connect

from tests.server.conftest import (
    Kernel,
    Server,
    running_server,
    short_temp_dir,
    start_kernel,
    stop_kernel,
)
from tests.server.preview_access import PreviewAccess, jupyter_login_cookie

pytestmark = pytest.mark.slow

SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
CAPABILITY = r"~[A-Za-z0-9_-]{43}"
REOPEN = "Reopen the preview from its link in Jupyter"
NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none",
              "Sec-Fetch-User": "?1"}
EVIL = "http://evil.example"

APPS = r'''
import json
from jupyter_sandbox import serve
seen = []

async def asgi(scope, receive, send):
    root = scope["root_path"]
    path = scope["path"][len(root):]  # ASGI's path includes root_path
    record = {"type": scope["type"], "path": path, "root_path": root,
              "query": scope["query_string"].decode(), "method": scope.get("method"),
              "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]}
    seen.append(record)
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": "echo:" + (message.get("text") or "")})
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    record["body"] = body.decode("latin-1")
    headers = [(b"content-type", b"application/json")]
    status = 200
    if path == "/go":  # an app that ignores root_path
        status, headers = 302, [(b"location", b"/landing")]
    elif path == "/go-root":  # url_for-style, from root_path
        status, headers = 302, [(b"location", (root + "/landing").encode())]
    elif path == "/go-link":  # an app configured with the link's own path
        status, headers = 302, [(b"location", (root.rsplit("/", 1)[0] + "/landing").encode())]
    elif path == "/policy":
        headers += [(b"referrer-policy", b"unsafe-url"), (b"set-cookie", b"app=1; Path=/")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(record).encode()})

def wsgi(environ, start_response):
    seen.append({"type": "wsgi", "SCRIPT_NAME": environ["SCRIPT_NAME"],
                 "PATH_INFO": environ["PATH_INFO"]})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["SCRIPT_NAME"].encode("latin-1")]

serve(asgi, port=8000)
serve(wsgi, port=8001)
'''
OTHER_APP = r'''
from jupyter_sandbox import serve
def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the other kernel's app"]
serve(other, port=8000)
'''


@pytest.fixture(scope="module")
def site(jupyter_server: Server) -> Iterator[PreviewAccess]:
    kernel = start_kernel(jupyter_server)
    try:
        kernel.run(APPS)
        yield PreviewAccess(kernel)
    finally:
        stop_kernel(kernel)


@pytest.fixture(scope="module")
def other(jupyter_server: Server) -> Iterator[Kernel]:
    kernel = start_kernel(jupyter_server)
    try:
        kernel.run(OTHER_APP)
        yield kernel
    finally:
        stop_kernel(kernel)


def seen(site: PreviewAccess) -> list[dict]:
    return json.loads(site.kernel.stdout("import json; print(json.dumps(seen)); seen.clear()"))


def browser(server: Server) -> httpx.Client:
    """A browser logged in to Jupyter: its login cookie, no token."""
    return httpx.Client(timeout=60, headers={"Cookie": jupyter_login_cookie(server)})


def open_link(site: PreviewAccess, port: int = 8000, path: str = "",
              headers: dict[str, str] | None = None) -> str:
    """Navigate to the Jupyter-origin link as a logged-in browser; the capability prefix
    (``/sandbox/preview/{kernel}/{port}/~{capability}``) it redirects to."""
    with browser(site.kernel.server) as client:
        response = client.get(site.url(port, path), headers=headers or NAVIGATION)
    assert response.status_code == 302, (response.status_code, response.text)
    location = response.headers["location"]
    match = re.match(rf"^(/sandbox/preview/{site.id}/{port}/{CAPABILITY})/", location)
    assert match, location
    return match[1]


def absolute(site: PreviewAccess, path: str) -> str:
    return site.kernel.server.url.rstrip("/") + path


def assert_shared_headers(response: httpx.Response) -> None:
    """Sandboxed, no Referer, no cookie of the app (below a capability: no cookie at all; the
    link route answers a token with Jupyter's own login cookie, as Jupyter does)."""
    assert SANDBOX_CSP in response.headers.get_list("content-security-policy"), response.headers
    assert response.headers.get_list("referrer-policy") == ["no-referrer"], response.headers
    cookies = response.headers.get_list("set-cookie")
    if "/~" in response.request.url.path:
        assert cookies == [], cookies
    else:
        assert [c for c in cookies if not c.startswith("username-")] == [], cookies


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("text/plain")
    assert REOPEN in response.text
    assert_shared_headers(response)


def ws_at(site: PreviewAccess, prefix: str, path: str, headers: dict[str, str]) -> ClientConnection:
    """A WebSocket to ``prefix + path`` on the Jupyter server, with no credentials but
    ``headers``."""
    sock = socket.create_connection(("127.0.0.1", site.server_port), timeout=60)
    url = f"ws://{site.netloc(8000)}{prefix}{path}"
    return connect(url, sock=sock, additional_headers=headers, open_timeout=60)


# -- the redirect ---------------------------------------------------------------------------------

def test_a_logged_in_navigation_is_sent_below_a_fresh_capability(site):
    server = site.kernel.server
    seen(site)
    navigations = [NAVIGATION, {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate",
                                "Sec-Fetch-Site": "same-origin"},
                   {"Sec-Fetch-Dest": "frame"}, {"Sec-Fetch-Mode": "navigate"}]
    locations = []
    with browser(server) as client:
        for headers in navigations:
            for method in ("GET", "HEAD"):
                response = client.request(
                    method, site.url(8000, f"page/x?token={server.token}&q=1"), headers=headers)
                assert response.status_code == 302, (method, headers, response.text)
                assert response.headers["referrer-policy"] == "no-referrer"
                assert response.headers["cache-control"] == "no-store"
                assert SANDBOX_CSP in response.headers.get_list("content-security-policy")
                locations.append(response.headers["location"])
        bare = client.get(site.url(8000).rstrip("/"), headers=NAVIGATION)
        unknown = client.get(site.url(8000).replace(
            site.id, "f00dfeed-0000-4000-8000-000000000000"), headers=NAVIGATION)
    for location in locations:
        assert re.fullmatch(rf"/sandbox/preview/{site.id}/8000/{CAPABILITY}/page/x\?q=1", location)
    assert len(set(locations)) == len(locations)  # a new capability each time
    assert re.fullmatch(rf"/sandbox/preview/{site.id}/8000/{CAPABILITY}/", bare.headers["location"])
    assert unknown.status_code == 404 and "location" not in unknown.headers
    anonymous = httpx.get(site.url(8000, "page"), headers=NAVIGATION, timeout=60)
    assert anonymous.status_code == 403 and "location" not in anonymous.headers
    assert seen(site) == []  # redirecting never contacts the app


def test_api_clients_and_other_requests_are_proxied_as_before(site):
    """The token, a cookie-authenticated fetch or form post: no redirect, the app answers."""
    server = site.kernel.server
    with site.client() as client:  # the token
        token = client.get(site.url(8000, "api"), headers=NAVIGATION)
    with browser(server) as client:
        fetched = client.get(site.url(8000, "api"),
                             headers={"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"})
        posted = client.post(site.url(8000, "form"), content=b"a=1",
                             headers={"Origin": server.url.rstrip("/"), **NAVIGATION})
    for response in (token, fetched, posted):
        assert response.status_code == 200, response.text
        assert_shared_headers(response)
    records = seen(site)
    assert [(r["method"], r["root_path"]) for r in records] == [
        ("GET", site.prefix(8000)), ("GET", site.prefix(8000)), ("POST", site.prefix(8000))]


# -- below the capability -------------------------------------------------------------------------

def test_capability_requests_work_without_any_login(site):
    prefix = open_link(site)
    server = site.kernel.server
    seen(site)
    with httpx.Client(timeout=60) as anonymous:
        page = anonymous.get(absolute(site, f"{prefix}/page?q=1"))
        post = anonymous.post(absolute(site, f"{prefix}/form"), content=b"name=v",
                              headers={"Origin": "null",
                                       "Content-Type": "application/x-www-form-urlencoded"})
        own = anonymous.put(absolute(site, f"{prefix}/item"), content=b"{}",
                            headers={"Origin": server.url.rstrip("/")})
        others = [anonymous.request(method, absolute(site, f"{prefix}/item"))
                  for method in ("DELETE", "PATCH", "OPTIONS", "HEAD")]
        bare = anonymous.get(absolute(site, prefix))
        redirects = {name: anonymous.get(absolute(site, f"{prefix}/{name}"))
                     for name in ("go", "go-root", "go-link")}
        policy = anonymous.get(absolute(site, f"{prefix}/policy"))
    for response in (page, post, own, *others, policy):
        assert response.status_code == 200, (response.request.method, response.text)
        assert_shared_headers(response)
    assert bare.status_code == 302 and bare.headers["location"] == f"{prefix}/"
    for name, response in redirects.items():
        assert response.status_code == 302, name
        assert response.headers["location"] == f"{prefix}/landing", name
        assert_shared_headers(response)
    records = [r for r in seen(site) if r["type"] == "http"]
    assert [(r["method"], r["path"]) for r in records[:3]] == [
        ("GET", "/page"), ("POST", "/form"), ("PUT", "/item")]
    assert {r["root_path"] for r in records} == {prefix}  # the capability is the app's mount
    assert records[0]["query"] == "q=1" and records[1]["body"] == "name=v"

    # WSGI: SCRIPT_NAME is the capability prefix of that port.
    wsgi_prefix = open_link(site, 8001)
    response = httpx.get(absolute(site, f"{wsgi_prefix}/x"), timeout=60)
    assert response.status_code == 200 and response.text == wsgi_prefix
    assert seen(site)[-1] == {"type": "wsgi", "SCRIPT_NAME": wsgi_prefix, "PATH_INFO": "/x"}


def test_the_sandboxed_pages_fetch_may_read_its_own_app(site):
    """To the browser the page (Origin: null) and its server are different origins: its fetch
    calls are CORS requests, answered as such below a capability (and only there)."""
    prefix = open_link(site)
    seen(site)
    with httpx.Client(timeout=60) as anonymous:
        fetched = anonymous.get(absolute(site, f"{prefix}/api/data"), headers={"Origin": "null"})
        preflight = anonymous.options(absolute(site, f"{prefix}/api/data"), headers={
            "Origin": "null", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, x-app"})
        options = anonymous.options(absolute(site, f"{prefix}/api/data"))
        plain = anonymous.get(absolute(site, f"{prefix}/api/data"))
    with browser(site.kernel.server) as client:
        link = client.get(site.url(8000, "api/data"), headers={"Origin": "null"})
    assert fetched.status_code == 200
    assert fetched.headers["access-control-allow-origin"] == "null"
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "null"
    assert preflight.headers["access-control-allow-methods"] == "PUT"
    assert preflight.headers["access-control-allow-headers"] == "content-type, x-app"
    assert_shared_headers(preflight)
    assert "access-control-allow-origin" not in plain.headers
    assert "access-control-allow-origin" not in link.headers  # the link route: never
    assert [(r["method"], r["path"]) for r in seen(site)] == [
        ("GET", "/api/data"), ("OPTIONS", "/api/data"), ("GET", "/api/data"),
        ("GET", "/api/data")]  # the preflight never reached the app
    assert options.status_code == 200


def test_websockets_from_the_sandboxed_page_or_jupyter_work_below_the_capability(site):
    prefix = open_link(site)
    seen(site)
    for headers in ({"Origin": "null"}, {"Origin": site.kernel.server.url.rstrip("/")}, {}):
        with ws_at(site, prefix, "/ws?a=1", headers) as connection:
            connection.send("ping")
            assert connection.recv(timeout=60) == "echo:ping"
    records = seen(site)
    assert [(r["type"], r["path"], r["query"], r["root_path"]) for r in records] == [
        ("websocket", "/ws", "a=1", prefix)] * 3


def test_other_sites_cannot_post_or_connect_even_with_the_address(site):
    prefix = open_link(site)
    seen(site)
    with httpx.Client(timeout=60) as anonymous:
        for origin in (EVIL, "https://evil.example",
                       site.kernel.server.url.replace("127.0.0.1", "localhost").rstrip("/")):
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                response = anonymous.request(method, absolute(site, f"{prefix}/form"),
                                             content=b"x", headers={"Origin": origin})
                assert response.status_code == 403, (method, origin, response.text)
            with pytest.raises(websockets.exceptions.InvalidStatus) as error:
                ws_at(site, prefix, "/ws", {"Origin": origin})
            assert error.value.response.status_code == 403
    assert seen(site) == []  # the app never heard of any of them


def test_a_capability_opens_only_its_own_preview(site, other):
    server = site.kernel.server
    prefix = open_link(site)
    capability = prefix.rsplit("/", 1)[1]
    forged = "~" + "A" * 43
    seen(site)
    with httpx.Client(timeout=60, headers={"Cookie": jupyter_login_cookie(server)}) as client:
        # Another port of the same kernel, another running kernel's app on the same port.
        assert_refused(client.get(site.url(8001, f"{capability}/x")))
        assert_refused(client.get(f"{server.url}sandbox/preview/{other.id}/8000/{capability}/x"))
        assert_refused(client.get(site.url(8000, f"{forged}/x")))
        assert_refused(client.post(site.url(8000, f"{forged}/x"), content=b"a",
                                   headers={"Origin": "null"}))
    assert httpx.get(f"{server.url}sandbox/preview/{other.id}/8000/x", timeout=60,
                     headers={"Authorization": f"token {server.token}"}).text == (
        "the other kernel's app")  # (it is there to be reached)
    for bad in (f"/sandbox/preview/{site.id}/8001/{capability}",
                f"/sandbox/preview/{site.id}/8000/{forged}"):
        with pytest.raises(websockets.exceptions.InvalidStatus) as error:
            ws_at(site, bad, "/ws", {"Origin": "null"})
        assert error.value.response.status_code == 403
    assert seen(site) == []


def test_a_capability_is_worth_nothing_on_the_jupyter_api(site):
    server = site.kernel.server
    prefix = open_link(site)
    capability = prefix.rsplit("/", 1)[1][1:]
    cookie_name = jupyter_login_cookie(server).split("=", 1)[0]
    with server.client() as api:
        kernels_before = sorted(k["id"] for k in api.get("api/kernels").json())
    xsrf = {"Cookie": "_xsrf=jsb-probe", "X-XSRFToken": "jsb-probe"}
    attempts = [
        ("GET", "api/kernels", {"Authorization": f"token {capability}"}),
        ("GET", f"api/kernels?token={capability}", {}),
        # A matching XSRF cookie and header, so the POSTs are refused by authentication and
        # not (whatever the capability did) by Jupyter's XSRF check ("'_xsrf' argument missing").
        ("POST", "api/kernels", {"Authorization": f"token ~{capability}", **xsrf}),
        ("POST", f"api/kernels?token={capability}", xsrf),
        ("GET", "api/contents", {"Cookie": f"{cookie_name}={capability}"}),
        ("GET", "api/terminals", {"Authorization": f"bearer {capability}"}),
        ("GET", "sandbox/api/v1/sandboxes", {"Authorization": f"token {capability}"}),
        ("GET", f"sandbox/api/kernels/{site.id}/previews",
         {"Authorization": f"token {capability}"}),
        ("GET", f"sandbox/preview/{site.id}/8000/page", {"Authorization": f"token {capability}"}),
    ]
    with httpx.Client(base_url=server.url, timeout=60) as anonymous:
        for method, path, headers in attempts:
            response = anonymous.request(method, path, headers=headers,
                                         json={"name": "python3"} if method == "POST" else None)
            # Not logged in: Jupyter's API and the sandbox's routes both answer 403 (jupyter_server
            # never sends 401; the preview route refuses a request without its capability).
            assert response.status_code == 403, (method, path, response.status_code)
            assert "xsrf" not in response.text.lower(), (method, path, response.text)
    # Dot segments sent as they are (no client normalising them) stay the app's path.
    connection = http.client.HTTPConnection("127.0.0.1", site.server_port, timeout=60)
    try:
        connection.request("GET", f"{prefix}/../../../../api/kernels")
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    assert answer.status == 200
    assert json.loads(body)["path"] == "/../../../../api/kernels"  # the app's echo, not Jupyter
    with server.client() as api:
        assert sorted(k["id"] for k in api.get("api/kernels").json()) == kernels_before


def test_nothing_of_jupyter_reaches_the_guest_below_a_capability(site):
    server = site.kernel.server
    prefix = open_link(site)
    login = jupyter_login_cookie(server)
    headers = {"Cookie": f"{login}; _xsrf=abc; tracking=42",
               "Referer": f"{server.url}lab/tree/secret.ipynb?token={server.token}",
               "X-XSRFToken": "abc", "Authorization": f"token {server.token}"}
    seen(site)
    with httpx.Client(timeout=60) as client:
        get = client.get(absolute(site, f"{prefix}/a?token={server.token}&q=1"), headers=headers)
        post = client.post(absolute(site, f"{prefix}/b"), content=b"x",
                           headers={**headers, "Origin": "null"})
    assert get.status_code == 200 and post.status_code == 200
    with ws_at(site, prefix, f"/ws?token={server.token}", {**headers, "Origin": "null"}) as ws:
        ws.send("x")
        assert ws.recv(timeout=60) == "echo:x"
    records = seen(site)
    assert [(r["path"], r["query"]) for r in records] == [("/a", "q=1"), ("/b", ""), ("/ws", "")]
    for record in records:
        names = {name.lower() for name, _ in record["headers"]}
        assert not names & {"cookie", "authorization", "referer", "x-xsrftoken"}, names
        assert server.token not in json.dumps(record)
        assert login.split("=", 1)[1] not in json.dumps(record)


# -- expiry ---------------------------------------------------------------------------------------

def test_an_expired_capability_is_refused():
    base = short_temp_dir()
    try:
        (base / "cfg").mkdir()
        (base / "cfg" / "jupyter_server_config.py").write_text(
            "c.SandboxExtensionApp.preview_session_lifetime = 2\n")
        with running_server(base) as server:
            kernel = start_kernel(server)
            try:
                kernel.run(OTHER_APP)
                prefix = open_link(PreviewAccess(kernel))
                url = f"{server.url.rstrip('/')}{prefix}/x"
                deadline = time.monotonic() + 120
                while (response := httpx.get(url, timeout=60)).status_code == 200:
                    assert time.monotonic() < deadline, "the capability never expired"
                    time.sleep(0.2)  # polling for the expiry, not synchronising steps
                assert_refused(response)
                # The link gives a fresh one.
                assert open_link(PreviewAccess(kernel)) != prefix
            finally:
                stop_kernel(kernel)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- preview_host mode is unchanged ---------------------------------------------------------------

def test_preview_host_mode_redirects_to_the_preview_origin_not_a_capability(preview_host_server):
    kernel = start_kernel(preview_host_server)
    try:
        kernel.run(OTHER_APP)
        access = PreviewAccess(kernel)
        with browser(preview_host_server) as client:
            link = client.get(access.kernel.preview_url(8000, "page"), headers=NAVIGATION)
            shaped = client.get(access.kernel.preview_url(8000, "~" + "A" * 43 + "/x"),
                                headers=NAVIGATION)
        for response, below in ((link, "/page"), (shaped, "/~" + "A" * 43 + "/x")):
            assert response.status_code == 302, response.text
            location = urllib.parse.urlsplit(response.headers["location"])
            assert location.hostname == access.host(8000)
            assert location.path == "/__jupyter_sandbox_auth"
            assert urllib.parse.parse_qs(location.query)["next"] == [below]
            assert SANDBOX_CSP not in response.headers.get_list("content-security-policy")
    finally:
        stop_kernel(kernel)
