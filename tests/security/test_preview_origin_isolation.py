"""Attacks on the separation of a preview origin (``preview_host``) from the Jupyter origin:

* Jupyter's REST API asked on a preview host, with a valid Jupyter token and login cookie, is
  refused (403) — no Jupyter handler answers there, so no kernel is started;
* the preview credential (its cookie, its one-time link token) is worth nothing on the Jupyter
  origin, and the preview handlers do not exist there;
* a link token works once, for its own preview only, and only for a logged-in user;
* the preview cookie is host-only and HttpOnly, never reaches the app, and the app cannot set
  cookies for other hosts or replace the credential;
* a cross-origin request that changes state is refused before the app runs.
"""

from __future__ import annotations

import json
import urllib.parse

import httpx
import pytest

from tests.server.conftest import Server, start_kernel, stop_kernel
from tests.server.preview_access import (
    PREVIEW_COOKIE,
    LoopbackTransport,
    PreviewAccess,
    exchange,
    jupyter_login_cookie,
)

pytestmark = pytest.mark.slow

APP = r'''
import json
from jupyter_sandbox import serve
seen = []

def app(environ, start_response):
    seen.append(environ["PATH_INFO"])
    body = json.dumps({"path": environ["PATH_INFO"], "cookie": environ.get("HTTP_COOKIE"),
                       "method": environ["REQUEST_METHOD"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Set-Cookie", "app=1; Domain=localhost; Path=/"),
                              ("Set-Cookie", "jupyter-sandbox-preview=forged; Path=/")])
    return [body]

serve(app, port=8000)
serve(app, port=8001)
'''


@pytest.fixture(scope="module")
def site(preview_host_server: Server) -> PreviewAccess:
    kernel = start_kernel(preview_host_server)
    try:
        kernel.run(APP)
        yield PreviewAccess(kernel)
    finally:
        stop_kernel(kernel)


def seen(site: PreviewAccess) -> list[str]:
    return json.loads(site.kernel.stdout("import json; print(json.dumps(seen)); seen.clear()"))


def kernel_ids(server: Server) -> list[str]:
    with server.client() as client:
        return sorted(k["id"] for k in client.get("api/kernels").json())


def on_preview_host(site: PreviewAccess, port: int, method: str, path: str, **kwargs):
    with site.anonymous() as client:
        return client.request(method, site.url(port, path), **kwargs)


def test_jupyter_api_is_not_served_on_a_preview_host(site):
    server = site.kernel.server
    before = kernel_ids(server)
    jupyter = {"Authorization": f"token {server.token}", "Cookie": jupyter_login_cookie(server)}
    for method, path in [("GET", "api/kernels"), ("POST", "api/kernels"), ("GET", "api/terminals"),
                         ("POST", "api/terminals"), ("GET", "api/contents"), ("GET", "lab"),
                         ("GET", f"sandbox/api/kernels/{site.id}/status"),
                         ("GET", "sandbox/api/preview-settings"),
                         ("GET", f"api/kernels?token={server.token}")]:
        response = on_preview_host(site, 8000, method, path, headers=jupyter,
                                   json={"name": "python3"} if method == "POST" else None)
        assert response.status_code == 403, (method, path, response.text)
        assert "open this preview from its link" in response.text
    assert kernel_ids(server) == before
    assert seen(site) == []
    # With the preview cookie, /api/kernels there is the app's own path, not Jupyter's.
    with site.client() as client:
        response = client.get(site.url(8000, "api/kernels"))
    assert response.json()["path"] == "/api/kernels"
    assert seen(site) == ["/api/kernels"]


def test_preview_credentials_are_worthless_on_the_jupyter_origin(site):
    server = site.kernel.server
    session = site.session(8000)
    with httpx.Client(base_url=server.url, timeout=60,
                      headers={"Cookie": f"{PREVIEW_COOKIE}={session}"}) as client:
        assert client.get("api/kernels").status_code == 403
        assert client.post("api/kernels", json={"name": "python3"}).status_code == 403
        assert client.get(f"sandbox/preview/{site.id}/8000/x").status_code == 403
        assert client.get("sandbox/api/preview-settings").status_code == 403
    # The token exchange exists on preview hosts only, even with a live token.
    with server.client(transport=LoopbackTransport()) as jupyter:
        link = jupyter.get(site.kernel.preview_url(8000))
    query = urllib.parse.urlsplit(link.headers["location"]).query
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.get(f"__jupyter_sandbox_auth?{query}").status_code == 404
    assert seen(site) == []


def test_the_link_needs_a_jupyter_login_and_redirects_with_a_one_time_token(site):
    server = site.kernel.server
    with site.anonymous() as anonymous:
        assert anonymous.get(site.kernel.preview_url(8000)).status_code == 403
    with server.client(transport=LoopbackTransport()) as jupyter:
        link = jupyter.get(site.kernel.preview_url(8000, f"page?x=1&token={server.token}"))
        post = jupyter.post(site.kernel.preview_url(8000, "page"))
    assert post.status_code == 405
    assert link.status_code == 302
    assert link.headers["referrer-policy"] == "no-referrer"
    location = urllib.parse.urlsplit(link.headers["location"])
    assert (location.scheme, location.hostname, location.port) == (
        "http", site.host(8000), site.server_port)
    assert location.path == "/__jupyter_sandbox_auth"
    params = dict(urllib.parse.parse_qsl(location.query))
    assert params["next"] == "/page?x=1"  # the Jupyter token stays behind
    assert server.token not in link.headers["location"]

    with site.anonymous() as browser:
        # Another preview's host: refused, and the token is spent.
        other = browser.get(f"http://{site.host(8001)}:{site.server_port}{location.path}?"
                            f"{location.query}")
        assert other.status_code == 403
        assert browser.get(link.headers["location"]).status_code == 403
    session, exchanged = exchange(site.kernel, 8000, "page?x=1")
    assert exchanged.headers["location"] == "/page?x=1"
    [cookie] = exchanged.headers.get_list("set-cookie")
    attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert "httponly" in attributes and "path=/" in attributes
    assert not [a for a in attributes if a.startswith("domain")]  # host-only
    assert "samesite=none" in attributes and "secure" in attributes
    with site.anonymous() as browser:
        again = browser.get(exchanged.request.url.copy_with(host=site.host(8000)))
        assert again.status_code == 403  # one time only
    assert seen(site) == []


def test_the_exchange_redirects_only_within_the_preview_origin(site):
    with site.kernel.server.client(transport=LoopbackTransport()) as jupyter:
        link = jupyter.get(site.kernel.preview_url(8000))
    location = urllib.parse.urlsplit(link.headers["location"])
    params = dict(urllib.parse.parse_qsl(location.query))
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "evil"):
        query = urllib.parse.urlencode({"token": params["token"], "next": evil})
        with site.anonymous() as browser:
            response = browser.get(f"http://{site.host(8000)}:{site.server_port}"
                                   f"{location.path}?{query}")
        assert response.status_code == 302
        assert response.headers["location"] == "/"
        with site.kernel.server.client(transport=LoopbackTransport()) as jupyter:
            link = jupyter.get(site.kernel.preview_url(8000))
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link.headers["location"]).query))


def test_a_session_is_for_its_own_preview_only(site):
    session = site.session(8000)
    response = on_preview_host(site, 8001, "GET", "x",
                               headers={"Cookie": f"{PREVIEW_COOKIE}={session}"})
    assert response.status_code == 403
    # A cookie of the same name tossed by a sibling host does not lock the user out.
    response = on_preview_host(site, 8000, "GET", "x", headers={
        "Cookie": f"{PREVIEW_COOKIE}=tossed; {PREVIEW_COOKIE}={session}; mine=2"})
    assert response.status_code == 200
    assert response.json()["cookie"] == "mine=2"  # neither credential reaches the app
    cookies = response.headers.get_list("set-cookie")
    assert cookies == ["app=1; Path=/"]  # made host-only; the forged credential dropped
    assert seen(site) == ["/x"]


def test_cross_origin_state_changes_are_refused_before_the_app_runs(site):
    with site.client() as client:
        for origin in ("http://evil.example", "null", site.kernel.server.url.rstrip("/")):
            response = client.post(site.url(8000, "transfer"), content=b"x",
                                   headers={"Origin": origin})
            assert response.status_code == 403, origin
        assert seen(site) == []
        own = client.post(site.url(8000, "transfer"), content=b"x",
                          headers={"Origin": f"http://{site.netloc(8000)}"})
    assert own.status_code == 200 and own.json()["method"] == "POST"
    assert seen(site) == ["/transfer"]


def test_preview_settings_tell_the_mode(site, jupyter_server: Server):
    with site.kernel.server.client() as client:
        assert client.get("sandbox/api/preview-settings").json() == {
            "preview_host": "{port}-{kernel}.localhost"}
    with jupyter_server.client() as client:
        assert client.get("sandbox/api/preview-settings").json() == {"preview_host": None}
    with httpx.Client(base_url=jupyter_server.url, timeout=60) as anonymous:
        assert anonymous.get("sandbox/api/preview-settings").status_code == 403
