"""Issue 19, item 2: per-user isolation under a real JupyterHub.

A real hub, its configurable-http-proxy and each user's ``jupyterhub-singleuser`` (J1's harness,
``conftest.py``/``hub.py``). alice runs a Sandboxed Python kernel whose preview app serves a
page with a secret, sets a cookie of its own and a script cookie. bob — logged in with his own
hub session, his own server running — then tries everything of alice's:

- over HTTP (his own cookies, as a browser's navigation, with his own hub API token as header
  and as ``?token=``): alice's preview link in the shared-origin mode (the link, the link in her
  cell output exactly as shown, a forged capability path below it) and her sandbox API
  (``sandbox/api/...`` and ``sandbox/api/v1/...``, reads and state changes). Each is refused
  (403; 404 for a kernel his own server does not have) and no answer carries alice's page,
  cookie or capability;
- in Debian's chromium (fresh profile, logged in on the hub's login form): he opens the same
  URLs and fetch()es alice's API and preview from a page of his own server; nothing of alice's
  shows in the page, in ``document.cookie`` or in the browser's cookie store, and his page's
  WebSockets to her preview and her kernel never open; alice, in a
  browser of her own, does see her page through the same link (the control that proves the
  URLs are right);
- a hub API token of alice's (``access:servers!user=alice``) drives
  ``jupyter_sandbox.client.SandboxClient`` at ``/user/alice/`` (create, exec ``1+1``, delete);
  bob's token (``access:servers!user=bob``) gets the client's ``SandboxAuthError``.

``preview_host`` mode under a path-routed hub: the test restarts alice's server with
``SandboxExtensionApp.preview_host = {port}-{kernel}.localhost`` (her ``~/.jupyter``) and shows
both what isolates and why the mode cannot serve previews behind this proxy — see
``test_preview_host_mode_under_the_hub``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from jupyter_sandbox.client import SandboxAuthError, SandboxClient, open_preview_sync

from .hub import PASSWORD, Hub, UserSession
from .isolation_helpers import (
    NAVIGATION,
    PREVIEW_HOST,
    PREVIEW_PORT,
    AliceSecrets,
    BrowserSession,
    alice_app_cell,
    assert_refused,
    leaked,
    loopback_get,
    preview_outputs,
    probe,
    run_browser,
    server_config_path,
    single_user_url,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: A capability-shaped path segment nobody issued (43 characters of the token alphabet).
FORGED_CAPABILITY = "~" + "Q" * 43


@dataclass
class AlicePreview:
    """alice's running preview app and what bob must never see of it."""

    hub: Hub
    kernel_id: str
    shown_link: str  # the link exactly as her cell output shows it (may be a path)
    secrets: AliceSecrets

    @property
    def output_link(self) -> str:
        """Her cell output's link as a browser on the hub's origin resolves it."""
        return str(httpx.URL(self.hub.url).join(self.shown_link))

    @property
    def link(self) -> str:
        """Her preview link through the hub's proxy."""
        return f"{self.hub.url}user/alice/sandbox/preview/{self.kernel_id}/{PREVIEW_PORT}/"

    def api(self, path: str = "") -> str:
        return f"{self.hub.url}user/alice/sandbox/api/{path}"


def _login(hub: Hub, user: str) -> UserSession:
    hub.start_server(user)
    session = hub.login(user)
    opened = session.open_server()
    assert opened.status_code == 200, (opened.status_code, opened.text[:500])
    return session


@pytest.fixture(scope="module")
def alice_preview(hub: Hub) -> Iterator[AlicePreview]:
    """alice's kernel (a notebook kernel of her server) serving her secret app."""
    secret = AliceSecrets()
    with _login(hub, "alice") as alice:
        kernel_id = alice.start_kernel()
        try:
            result = alice.run(kernel_id, alice_app_cell(secret), timeout=240).check()
            links = preview_outputs(result.outputs)
            assert links, f"no preview output in alice's cell: {result.outputs}"
            preview = AlicePreview(hub, kernel_id, links[0]["url"], secret)
            # Control: through the hub, alice herself reaches her page via her link.
            page = alice.client.get(preview.link, headers=NAVIGATION, follow_redirects=True)
            assert page.status_code == 200 and secret.page in page.text, (
                page.status_code, page.url, page.text[:300])
            assert "/~" in page.url.path, page.url  # the shared-origin capability path
            yield preview
        finally:
            alice.server_api("DELETE", f"api/kernels/{kernel_id}")


def test_alices_cell_output_links_her_hub_prefixed_preview(alice_preview: AlicePreview,
                                                           bob: UserSession) -> None:
    """The link in alice's output is below ``/user/alice/``; bob following that exact link
    (and its form through the hub's proxy) is refused with nothing of alice's."""
    output = httpx.URL(alice_preview.output_link)
    assert output.netloc == httpx.URL(alice_preview.hub.url).netloc, alice_preview.shown_link
    assert output.path == (f"/user/alice/sandbox/preview/{alice_preview.kernel_id}/"
                           f"{PREVIEW_PORT}/"), alice_preview.output_link
    for url in {alice_preview.output_link, alice_preview.link}:
        for what, headers in (("cookies", {}), ("navigation", NAVIGATION)):
            assert_refused(probe(bob.client, f"bob's {what}", "GET", url, headers=headers),
                           alice_preview.secrets.all())


def test_bob_cannot_open_alices_preview_or_call_her_api(hub: Hub, alice_preview: AlicePreview,
                                                        bob: UserSession) -> None:
    """Shared-origin mode, over HTTP: every way bob has of asking is refused."""
    bob_token = hub.new_token("bob", ["access:servers!user=bob"], note="bob-isolation")
    secret_values = alice_preview.secrets.all()
    kernel = alice_preview.kernel_id
    targets = [
        ("GET", alice_preview.link),
        ("GET", alice_preview.link + "index.html?x=1"),
        ("GET", alice_preview.link + FORGED_CAPABILITY + "/"),
        ("POST", alice_preview.link),
        ("GET", alice_preview.api("preview-settings")),
        ("GET", alice_preview.api(f"kernels/{kernel}/snapshots")),
        ("POST", alice_preview.api(f"kernels/{kernel}/snapshots")),
        ("GET", alice_preview.api("v1/sandboxes")),
        ("POST", alice_preview.api("v1/sandboxes")),
        ("GET", alice_preview.api(f"v1/sandboxes/{kernel}")),
        ("POST", alice_preview.api(f"v1/sandboxes/{kernel}/exec")),
        ("GET", f"{hub.url}user/alice/api/kernels"),
    ]
    ways = [("cookies", {}, ""), ("navigation", NAVIGATION, ""),
            ("token header", {"Authorization": f"token {bob_token}"}, ""),
            ("token query", {}, f"token={bob_token}")]
    # bob's cookies sent by hand, with an _xsrf cookie and header pair of his own making for
    # alice's path (JupyterHub's XSRF check, tied to the hub session, refuses the pair too).
    forged = {"Cookie": _cookie_header(bob) + "; _xsrf=bobs-own", "X-XSRFToken": "bobs-own"}
    results = []
    with httpx.Client(timeout=60) as bare:
        for method, url in targets:
            body = json.dumps({"code": "1+1", "name": "x"}) if method == "POST" else None
            json_type = {"Content-Type": "application/json"} if body else {}
            for what, headers, query in ways:
                full = url + (("&" if "?" in url else "?") + query if query else "")
                results.append(probe(bob.client, f"bob's {what}", method, full,
                                     headers={**json_type, **headers}, content=body))
            results.append(probe(bare, "bob's cookies, forged xsrf", method, url,
                                 headers={**json_type, **forged}, content=body))
    for result in results:
        assert_refused(result, secret_values)
    # The sandbox API answers in its envelope; the preview link in plain text.
    api = [r for r in results if "/sandbox/api/v1/" in r.url]
    assert all(r.status == 403 and json.loads(r.body)["code"] == "forbidden" for r in api), \
        [r.describe() for r in api if r.status != 403]
    preview = [r for r in results if "/sandbox/preview/" in r.url]
    assert all(r.status == 403 and r.content_type.startswith("text/plain") for r in preview), \
        [r.describe() for r in preview]
    # On his own server (and through the hub's user-redirect, which leads there) alice's
    # kernel id names nothing: kernels, capabilities and sandboxes belong to one server.
    for url in (f"{hub.url}user/bob/sandbox/preview/{kernel}/{PREVIEW_PORT}/",
                f"{hub.url}user/bob/sandbox/preview/{kernel}/{PREVIEW_PORT}/"
                f"{FORGED_CAPABILITY}/",
                f"{hub.url}user/bob/sandbox/api/kernels/{kernel}/snapshots"):
        own = probe(bob.client, "bob's own server", "GET", url)
        assert_refused(own, secret_values)
        assert own.status in (403, 404), own.describe()
    redirected = bob.client.get(
        f"{hub.url}hub/user-redirect/sandbox/preview/{kernel}/{PREVIEW_PORT}/",
        follow_redirects=True)
    assert redirected.url.path.startswith("/user/bob/"), redirected.url
    assert redirected.status_code == 404 and not leaked(redirected.text, secret_values), \
        (redirected.status_code, redirected.text[:300])
    # alice's kernel is untouched: still her one preview, and no snapshot bob could have made.
    with _login(hub, "alice") as alice:
        # The control: the same requests with alice's own login are answered.
        assert alice.client.get(alice_preview.api("v1/sandboxes")).status_code == 200
        assert alice.client.get(alice_preview.link).status_code == 200
        snapshots = alice.server_api("GET", f"sandbox/api/kernels/{kernel}/snapshots")
        assert snapshots.status_code == 200, snapshots.text
        assert not [s for s in snapshots.json().get("snapshots", [])
                    if s.get("name") == "x"], snapshots.text


def test_bobs_browser_gets_nothing_of_alices(hub: Hub, alice_preview: AlicePreview) -> None:
    """Chromium: alice's own browser shows her page (control); bob's shows only refusals, and
    neither his pages, his ``document.cookie`` nor his cookie store hold anything of hers."""
    hub.start_server("bob")
    kernel = alice_preview.kernel_id
    visits = [alice_preview.link, alice_preview.output_link,
              alice_preview.link + FORGED_CAPABILITY + "/",
              alice_preview.api("v1/sandboxes"), alice_preview.api("preview-settings")]
    fetches = [alice_preview.link, alice_preview.api("v1/sandboxes"),
               alice_preview.api(f"v1/sandboxes/{kernel}/exec"),
               alice_preview.api(f"kernels/{kernel}/snapshots")]
    ws = "ws" + hub.url[len("http"):]
    sockets = [f"{ws}user/alice/sandbox/preview/{kernel}/{PREVIEW_PORT}/ws",
               f"{ws}user/alice/api/kernels/{kernel}/channels"]
    report = run_browser(hub.url, [
        BrowserSession("alice", PASSWORD, own=[f"{hub.url}user/alice/lab"],
                       visit=[alice_preview.link], fetch=[alice_preview.api("v1/sandboxes")],
                       fetch_from=f"{hub.url}user/alice/lab", sockets=sockets[1:]),
        BrowserSession("bob", PASSWORD, own=[f"{hub.url}user/bob/lab"], visit=visits,
                       fetch=fetches, fetch_from=f"{hub.url}user/bob/lab", sockets=sockets),
    ])
    secret_values = alice_preview.secrets.all()

    alice = report["alice"]
    (own_visit,) = alice["visits"]
    assert own_visit.get("status") == 200 and alice_preview.secrets.page in own_visit["text"], \
        own_visit
    assert "/~" in own_visit["finalUrl"], own_visit  # opened below a capability
    # ... and from her own lab page her API answers and her kernel's WebSocket opens: the
    # same requests from bob's page below are refused because they are bob's, not malformed.
    (own_fetch,) = alice["fetches"]
    assert own_fetch["GET"].get("status") == 200, (own_fetch, alice["consoleErrors"])
    (own_socket,) = alice["sockets"]
    assert "open" in own_socket["events"], own_socket

    bob = report["bob"]
    assert all(o["status"] == 200 for o in bob["own"]), bob["own"]  # his own server works
    for visit in bob["visits"]:
        assert "error" not in visit, visit
        assert visit["status"] in (403, 404), visit
        assert not leaked(json.dumps(visit), secret_values), visit
        assert "/~" not in visit["finalUrl"].replace(FORGED_CAPABILITY, ""), visit
        assert "alice" not in visit["documentCookie"], visit
    for fetched in bob["fetches"]:
        assert not leaked(json.dumps(fetched), secret_values), fetched
        for method in ("GET", "POST"):
            answer = fetched[method]
            # 405: a GET of a POST-only route, answered before anyone is asked who calls.
            refused = answer.get("status") in (403, 404, 405)
            assert refused or answer.get("type") == "opaqueredirect", \
                (fetched, bob["failedRequests"], bob["consoleErrors"])
    # WebSockets from his page to alice's preview and kernel: refused at the handshake.
    assert len(bob["sockets"]) == len(sockets), bob["sockets"]
    for socket in bob["sockets"]:
        assert "open" not in socket["events"], socket
        assert not [e for e in socket["events"] if e.startswith("message:")], socket
    names = {(c["name"], c["path"]) for c in bob["cookies"]}
    assert not [n for n in names if "alice" in n[0] or n[1].startswith("/user/alice")], names
    assert not leaked(json.dumps(bob["cookies"]), secret_values), bob["cookies"]


def test_hub_tokens_with_the_sandbox_client(hub: Hub) -> None:
    """alice's hub token (``access:servers!user=alice``) drives SandboxClient at /user/alice/
    (create, exec, her preview, delete); bob's (``access:servers!user=bob``) is refused with
    SandboxAuthError (a SandboxServiceError), not a traceback, and opens no preview of hers."""
    hub.start_server("alice")
    alice_url = f"{hub.url}user/alice/"
    alice_token = hub.new_token("alice", ["access:servers!user=alice"], note="alice-client")
    bob_token = hub.new_token("bob", ["access:servers!user=bob"], note="bob-client")
    with SandboxClient(alice_url, alice_token) as client:
        sandbox = client.create_sandbox()
        try:
            result = sandbox.exec("1+1").raise_for_status()
            assert result.result == "2", result
            sandbox_id = sandbox.id
            assert sandbox_id in [s.id for s in client.list_sandboxes()]
            # Her token opens her sandbox's preview through the hub; bob's does not.
            secret = AliceSecrets()
            sandbox.exec(alice_app_cell(secret)).raise_for_status()
            with sandbox.preview_client(PREVIEW_PORT) as preview:
                page = preview.get("")
                assert page.status_code == 200 and secret.page in page.text, page.text[:300]
            with open_preview_sync(alice_url, bob_token, str(sandbox.kernel_id), PREVIEW_PORT,
                                   own_origin=False, timeout=60) as intruder_preview:
                assert_refused(probe(intruder_preview, "bob's token", "GET", ""), secret.all())
            with SandboxClient(alice_url, bob_token) as intruder:
                for attempt in (intruder.list_sandboxes, intruder.create_sandbox,
                                lambda: intruder.get_sandbox(sandbox_id)):
                    with pytest.raises(SandboxAuthError) as refused:
                        attempt()
                    assert refused.value.status == 403 and refused.value.code == "forbidden"
                    assert "Authorization: token" in str(refused.value)
                    # under the hub, the hint names the hub token alice's server needs
                    assert "access:servers!user=alice" in refused.value.hint
        finally:
            sandbox.delete()
        assert sandbox_id not in [s.id for s in client.list_sandboxes()]


def _cookie_header(session: UserSession) -> str:
    """Every cookie of a session's jar (hub's and own server's), as one ``Cookie`` header."""
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.client.cookies.jar)


@pytest.fixture
def alice_with_preview_host(hub: Hub) -> Iterator[UserSession]:
    """alice's server restarted with ``preview_host`` in her own ``~/.jupyter``; on exit the
    file is restored and her server stopped (the harness's fixtures start it again)."""
    config = server_config_path(hub.home("alice"))
    config.parent.mkdir(parents=True, exist_ok=True)
    before = config.read_text() if config.exists() else None
    config.write_text(json.dumps({"SandboxExtensionApp": {"preview_host": PREVIEW_HOST}}))
    hub.stop_server("alice")
    try:
        with _login(hub, "alice") as alice:
            yield alice
    finally:
        if before is None:
            config.unlink()
        else:
            config.write_text(before)
        hub.stop_server("alice")


def test_preview_host_mode_under_the_hub(hub: Hub, alice_with_preview_host: UserSession,
                                         bob: UserSession) -> None:
    """``preview_host = {port}-{kernel}.localhost`` on alice's server, behind the hub.

    Why previews cannot be served in this mode behind this hub: configurable-http-proxy, as
    JupyterHub runs it without ``subdomain_host``, routes by path prefix alone (``/user/alice/``
    to her server, everything else to the hub), whatever the Host. A preview origin's paths
    (``/__jupyter_sandbox_auth``, the app's ``/``) are not below ``/user/alice/``, so the proxy
    hands them to the hub, which never reaches alice's server; serving them needs a route per
    preview host (host routing), which JupyterHub does not create.

    What isolates here anyway: bob is refused at alice's link (403, no redirect, no one-time
    token issued to him); the preview origin through the proxy is the hub's, never alice's app;
    and alice's server itself, reached under the preview host name as a host-routed deployment
    would reach it, refuses bob (his cookies, or none) and a replay of alice's spent one-time
    token, while alice's own token opens her page there (the control)."""
    alice = alice_with_preview_host
    secret = AliceSecrets()
    settings = alice.server_api("GET", "sandbox/api/preview-settings")
    assert settings.status_code == 200 and settings.json() == {"preview_host": PREVIEW_HOST}, \
        settings.text
    kernel = alice.start_kernel()
    alice.run(kernel, alice_app_cell(secret), timeout=240).check()
    link = f"{hub.url}user/alice/sandbox/preview/{kernel}/{PREVIEW_PORT}/"
    bob_token = hub.new_token("bob", ["access:servers!user=bob"], note="bob-preview-host")

    for what, headers in (("cookies", {}), ("navigation", NAVIGATION),
                          ("token header", {"Authorization": f"token {bob_token}"})):
        refused = probe(bob.client, f"bob's {what}", "GET", link, headers=headers)
        assert_refused(refused, secret.all())
        assert refused.status == 403 and not refused.location, refused.describe()

    # alice's link: a redirect to the preview's own origin, on the hub's port.
    redirect = alice.client.get(link, headers=NAVIGATION)
    assert redirect.status_code == 302, (redirect.status_code, redirect.text[:300])
    signin = httpx.URL(redirect.headers["location"])
    hub_port = httpx.URL(hub.url).port
    assert (signin.host, signin.port, signin.path) == (
        f"{PREVIEW_PORT}-{kernel}.localhost", hub_port, "/__jupyter_sandbox_auth"), signin
    # ... which the hub's proxy gives to the hub, not to alice's server.
    for url in (str(signin), f"http://{PREVIEW_PORT}-{kernel}.localhost:{hub_port}/"):
        answer = loopback_get(url, headers={"Cookie": _cookie_header(bob)})
        assert not leaked(answer.text + answer.headers.get("location", ""), secret.all())
        assert answer.status_code in (302, 404), (url, answer.status_code, answer.text[:300])
        if answer.status_code == 302:
            assert answer.headers["location"].startswith("/hub/"), answer.headers
        assert "jupyter-sandbox-preview" not in answer.headers.get("set-cookie", "")

    # alice's server under the preview host name (what host routing would reach).
    server = httpx.URL(single_user_url(hub.process.pid, "alice"))
    origin = f"http://{PREVIEW_PORT}-{kernel}.localhost:{server.port}"
    for cookie in (_cookie_header(bob), ""):
        answer = loopback_get(origin + "/", headers={"Cookie": cookie} if cookie else {})
        assert answer.status_code == 403 and secret.page not in answer.text, answer.text[:300]
    signed_in = loopback_get(f"{origin}/__jupyter_sandbox_auth?{signin.query.decode()}")
    assert signed_in.status_code == 302, (signed_in.status_code, signed_in.text[:300])
    preview_cookie = signed_in.headers["set-cookie"].split(";", 1)[0]
    page = loopback_get(origin + "/", headers={"Cookie": preview_cookie})
    assert page.status_code == 200 and secret.page in page.text, page.text[:300]
    replay = loopback_get(f"{origin}/__jupyter_sandbox_auth?{signin.query.decode()}",
                          headers={"Cookie": _cookie_header(bob)})
    assert replay.status_code == 403 and "set-cookie" not in replay.headers, replay.text[:300]

    # bob's browser: the link, the preview origin through the proxy and on alice's server.
    report = run_browser(hub.url, [BrowserSession(
        "bob", PASSWORD, own=[f"{hub.url}user/bob/lab"],
        visit=[link, f"http://{PREVIEW_PORT}-{kernel}.localhost:{hub_port}/", origin + "/"])])
    bob_report = report["bob"]
    for visit in bob_report["visits"]:
        assert "error" not in visit, visit
        # The preview origin through the proxy is the hub's: its login page (this browser has
        # no hub cookie for that host name), or a refusal.
        assert visit["status"] in (403, 404) or (
            httpx.URL(visit["finalUrl"]).path.startswith("/hub/login")
            and httpx.URL(visit["url"]).port == hub_port), visit
        assert not leaked(json.dumps(visit), secret.all()), visit
        assert "alice" not in visit["documentCookie"], visit
    assert not [c for c in bob_report["cookies"]
                if "alice" in c["name"] or c["name"] == "jupyter-sandbox-preview"], \
        bob_report["cookies"]
