"""Attack: a page on another origin opens a WebSocket to a preview, riding on the user's
credentials (Jupyter's cookie or token on the shared origin, the preview cookie on a preview
origin). The upgrade must be refused (403) before any guest code runs: the app below records
every connect it sees (path and query), and the record stays empty. Both modes."""

from __future__ import annotations

import json

import pytest
import websockets.exceptions

from tests.server.conftest import start_kernel, stop_kernel
from tests.server.preview_access import (
    MODES,
    PREVIEW_COOKIE,
    PreviewAccess,
    jupyter_login_cookie,
    server_for,
)

pytestmark = pytest.mark.slow

RECORDER = r'''
from jupyter_sandbox import serve
connects = []

async def recorder(scope, receive, send):
    if scope["type"] == "websocket":
        connects.append({"path": scope["path"], "query": scope["query_string"].decode(),
                         "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]]})
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            await send({"type": "websocket.send", "text": "pong"})
    else:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"http"})

serve(recorder, port=8001)
serve(recorder, port=8002)
'''
EVIL = "http://evil.example"


@pytest.fixture(scope="module", params=MODES)
def site(request) -> PreviewAccess:
    kernel = start_kernel(server_for(request))
    try:
        kernel.run(RECORDER)
        yield PreviewAccess(kernel)
    finally:
        stop_kernel(kernel)


def recorded(site: PreviewAccess) -> list[dict]:
    code = "import json; print(json.dumps(connects)); connects.clear()"
    return json.loads(site.kernel.stdout(code))


def refused(site: PreviewAccess, path: str, headers: dict[str, str], *,
            authenticated: bool = True) -> int:
    with pytest.raises(websockets.exceptions.InvalidStatus) as error:
        site.ws(8001, path, headers=headers, authenticated=authenticated)
    return error.value.response.status_code


def test_cross_origin_upgrades_with_the_users_credentials_never_reach_the_app(site):
    server = site.kernel.server
    jupyter_origin = server.url.rstrip("/")
    attempts = [{"Origin": EVIL}, {"Origin": "null"}, {"Origin": EVIL.replace("http", "https")}]
    if site.shared:
        cookie = jupyter_login_cookie(server)
        # The Jupyter cookie alone, the token header, the token in the query: none lets a
        # foreign page in.
        for headers in attempts:
            assert refused(site, "ws?a=1", {**headers, "Cookie": cookie},
                           authenticated=False) == 403
            assert refused(site, "ws?a=1", headers) == 403
            assert refused(site, f"ws?a=1&token={server.token}", headers,
                           authenticated=False) == 403
    else:
        sibling = f"http://{site.host(8002)}:{site.server_port}"
        for headers in [*attempts, {"Origin": jupyter_origin}, {"Origin": sibling}]:
            assert refused(site, "ws?a=1", headers) == 403
        # Jupyter's credentials are nothing on the preview origin, even from its own origin.
        own = {"Origin": f"http://{site.netloc(8001)}",
               "Authorization": f"token {server.token}", "Cookie": jupyter_login_cookie(server)}
        assert refused(site, f"ws?token={server.token}", own, authenticated=False) == 403
    assert recorded(site) == []


def test_a_malformed_upgrade_never_reaches_the_app(site):
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    with site.client() as client:
        response = client.get(site.url(8001, "ws"), headers=headers)  # no Sec-WebSocket-Key
    assert response.status_code == 400
    assert recorded(site) == []


def test_a_same_origin_upgrade_works_and_the_app_sees_no_credentials(site):
    server = site.kernel.server
    own = {"Origin": f"http://{site.netloc(8001)}"}
    path = f"ws?a=1&token={server.token}" if site.shared else "ws?a=1"
    with site.ws(8001, path, headers=own) as ws:
        ws.send("ping")
        assert ws.recv(timeout=30) == "pong"
    [connect] = recorded(site)
    assert connect["path"].endswith("/ws") and connect["query"] == "a=1"
    names = {name for name, _ in connect["headers"]}
    assert "authorization" not in names
    if site.shared:
        assert "cookie" not in names
    else:
        assert PREVIEW_COOKIE not in dict(connect["headers"]).get("cookie", "")


# Only preview_host mode: the shared origin proxies WebSockets on the link itself.
@pytest.mark.parametrize("site", ["preview-host"], indirect=True)
def test_websocket_on_the_jupyter_link_in_preview_host_mode_is_refused(site):
    with site.kernel.server.client() as client:
        response = client.get(site.kernel.preview_url(8001, "ws"), headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status_code == 405
    assert recorded(site) == []
