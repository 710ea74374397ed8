"""Attacks through a preview served on the shared Jupyter origin (no ``preview_host``): the
app's page must run in an opaque origin and learn nothing of the user's Jupyter session.

* every response carries ``Content-Security-Policy: sandbox ...`` without
  ``allow-same-origin``, whatever policy the app sends (its own stays beside ours; browsers
  enforce both), on pages, assets, redirects and errors alike;
* the app cannot set cookies on the Jupyter origin (``Set-Cookie`` dropped, noted once per
  kernel in the server log) nor clear its data (``Clear-Site-Data`` dropped);
* no cookie at all reaches the guest (the login cookie, ``_xsrf``, any other cookie of the
  user's browser), nor the Jupyter token (query or header), nor the ``Referer``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.server.conftest import Server, start_kernel, stop_kernel
from tests.server.preview_access import PreviewAccess, jupyter_login_cookie

pytestmark = pytest.mark.slow

SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
APP = r'''
import json
from jupyter_sandbox import serve
environs = []

def hostile(environ, start_response):
    environs.append({k: v for k, v in environ.items() if isinstance(v, str)})
    if environ["PATH_INFO"] == "/away":
        start_response("302 Found", [("Location", "/elsewhere"), ("Set-Cookie", "b=2")])
        return [b""]
    start_response("200 OK", [
        ("Content-Type", "text/html"),
        ("Content-Security-Policy", "sandbox allow-same-origin allow-scripts"),
        ("Content-Security-Policy", "default-src *"),
        ("Set-Cookie", "username-127-0-0-1-8888=forged; Path=/"),
        ("Set-Cookie", "_xsrf=forged; Path=/"),
        ("Clear-Site-Data", '"cookies", "storage"')])
    return [b"<script>fetch('/api/kernels', {method: 'POST'})</script>"]

serve(hostile, port=8000)
'''


@pytest.fixture(scope="module")
def site(jupyter_server: Server) -> PreviewAccess:
    kernel = start_kernel(jupyter_server)
    try:
        kernel.run(APP)
        yield PreviewAccess(kernel)
    finally:
        stop_kernel(kernel)


def environs(site: PreviewAccess) -> list[dict]:
    code = "import json; print(json.dumps(environs)); environs.clear()"
    return json.loads(site.kernel.stdout(code))


def test_every_response_is_sandboxed_and_sets_no_cookie(site):
    login = jupyter_login_cookie(site.kernel.server)
    with httpx.Client(timeout=60, headers={"Cookie": login}) as browser:
        page = browser.get(site.url(8000, "page"))
        redirect = browser.get(site.url(8000, "away"))
        missing = browser.get(site.url(9999, "x"))
        forbidden = httpx.get(site.url(8000, "page"), timeout=60)  # the proxy's own error page
        bare = browser.get(site.url(8000).rstrip("/"))
    assert page.status_code == 200
    for response in (page, redirect, missing, bare, forbidden):
        policies = response.headers.get_list("content-security-policy")
        assert SANDBOX_CSP in policies, (response.status_code, policies)
        assert not [c for c in response.headers.get_list("set-cookie")
                    if c.split("=", 1)[0] in ("username-127-0-0-1-8888", "_xsrf", "b")]
        assert "clear-site-data" not in response.headers
    assert "sandbox allow-same-origin allow-scripts" in page.headers.get_list(
        "content-security-policy")  # the app's stays too: both are enforced
    assert bare.status_code == 302
    assert redirect.headers["location"] == f"{site.prefix(8000)}/elsewhere"


def test_dropped_cookies_are_noted_once_per_kernel_in_the_server_log(site):
    with site.client() as client:
        for _ in range(3):
            assert client.get(site.url(8000, "again")).status_code == 200
    notices = [line for line in site.kernel.server.log_lines
               if "sets cookies" in line and site.id in line]
    assert len(notices) == 1, notices
    assert "preview_host" in notices[0]


def test_nothing_of_the_jupyter_session_reaches_the_guest(site):
    server = site.kernel.server
    login = jupyter_login_cookie(server)
    headers = {"Cookie": f"{login}; _xsrf=abc; tracking=42; other-site=1",
               "Referer": f"{server.url}lab/tree/secret.ipynb?token={server.token}",
               "X-XSRFToken": "abc"}
    environs(site)
    with httpx.Client(timeout=60) as browser:  # the login cookie alone
        assert browser.get(site.url(8000, "a?q=1"), headers=headers).status_code == 200
        # the token in the query, as a link pasted with ?token=
        assert browser.get(site.url(8000, f"b?token={server.token}&q=2"),
                           headers={**headers, "Cookie": "tracking=42"}).status_code == 200
        # and the token header
        assert browser.get(site.url(8000, "c"), headers={
            **headers, "Authorization": f"token {server.token}"}).status_code == 200
    seen = environs(site)
    assert [e["PATH_INFO"] for e in seen] == ["/a", "/b", "/c"]
    assert [e["QUERY_STRING"] for e in seen] == ["q=1", "q=2", ""]
    for environ in seen:
        assert "HTTP_COOKIE" not in environ
        assert "HTTP_REFERER" not in environ
        assert "HTTP_AUTHORIZATION" not in environ
        assert "HTTP_X_XSRFTOKEN" not in environ
        assert server.token not in json.dumps(environ)
