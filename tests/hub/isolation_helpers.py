"""Helpers of ``test_hub_isolation.py``: alice's secret preview app, probing URLs as bob (httpx
and chromium) and judging that nothing of alice's came back.

Kept apart from J1's harness (``hub.py``, ``conftest.py``), which this only uses.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.browser_driver import run_driver

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DRIVER = HERE / "hub_isolation_browser.js"
ARTIFACTS = ROOT / "test-artifacts" / "hub-isolation"
DRIVER_TIMEOUT = 420
PREVIEW_PORT = 8000
PREVIEW_MIME = "application/vnd.jupyter-sandbox.preview+json"
#: What a browser sends when it opens a page (the preview link then redirects to a capability).
NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate",
              "Sec-Fetch-Site": "none", "Accept": "text/html"}


@dataclass
class AliceSecrets:
    """Values only alice's preview app and alice's hub session know; none may reach bob."""

    page: str = field(default_factory=lambda: "ALICE-PAGE-" + secrets.token_hex(12))
    cookie: str = field(default_factory=lambda: "alicecookie" + secrets.token_hex(12))
    js_cookie: str = field(default_factory=lambda: "alicejs" + secrets.token_hex(12))

    def all(self) -> list[str]:
        return [self.page, self.cookie, self.js_cookie]


def alice_app_cell(secret: AliceSecrets, port: int = PREVIEW_PORT) -> str:
    """A cell serving a page with alice's secret text, an app cookie and a script cookie."""
    page = (f"<!doctype html><html><body><h1>{secret.page}</h1><script>"
            f"try {{ document.cookie = 'alice_js={secret.js_cookie}; path=/'; }} catch (e) {{}}"
            "</script></body></html>")
    return f'''from jupyter_sandbox import serve

PAGE = {page!r}.encode()

def alice_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Cache-Control", "no-store"),
                              ("Set-Cookie", "alice_app={secret.cookie}; Path=/")])
    return [PAGE]

serve(alice_app, port={int(port)})
'''


def preview_outputs(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``application/vnd.jupyter-sandbox.preview+json`` data of a cell's outputs."""
    return [message["content"]["data"][PREVIEW_MIME] for message in outputs
            if PREVIEW_MIME in (message["content"].get("data") or {})]


@dataclass
class Probe:
    """What one request as bob got back."""

    what: str
    method: str
    url: str
    status: int
    location: str
    content_type: str
    body: str
    set_cookies: list[str]

    def describe(self) -> str:
        return (f"{self.what}: {self.method} {self.url} -> {self.status} "
                f"{self.location or ''} {self.content_type} {self.body[:200]!r}")


def probe(client: httpx.Client, what: str, method: str, url: str, **kwargs: Any) -> Probe:
    """One request, redirects not followed (a redirect is judged as it is)."""
    response = client.request(method, url, follow_redirects=False, **kwargs)
    return Probe(what, method, str(response.url), response.status_code,
                 response.headers.get("location", ""),
                 response.headers.get("content-type", ""),
                 response.text, response.headers.get_list("set-cookie"))


def leaked(text: str, secret_values: list[str]) -> list[str]:
    """The secret values that occur in ``text``."""
    return [value for value in secret_values if value and value in text]


def assert_refused(result: Probe, secret_values: list[str]) -> None:
    """A refusal: 403 (or 404: no such kernel on that server), never a redirect that carries
    a credential (the only redirect a hub makes here is to its own login), and no secret of
    alice's in the body, the Location or a cookie."""
    everything = " ".join([result.body, result.location, *result.set_cookies])
    assert not leaked(everything, secret_values), result.describe()
    if result.status in (301, 302, 303, 307, 308):
        location = httpx.URL(result.url).join(result.location)
        assert location.path.startswith("/hub/"), result.describe()
        assert "token=" not in str(location) and "/~" not in location.path, result.describe()
    else:
        assert result.status in (403, 404), result.describe()
    for header in result.set_cookies:
        assert not header.startswith(("jupyterhub-user-alice", "alice")), result.describe()


# -- chromium --------------------------------------------------------------------------------
@dataclass
class BrowserSession:
    """One user's fresh browser profile for the driver: log in, open ``own`` pages, then
    navigate to each of ``visit``, and from the page ``fetch_from`` fetch each of ``fetch``
    and open a WebSocket to each of ``sockets``."""

    user: str
    password: str
    own: list[str] = field(default_factory=list)
    visit: list[str] = field(default_factory=list)
    fetch: list[str] = field(default_factory=list)
    fetch_from: str = ""
    sockets: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "password": self.password, "own": self.own,
                "visit": self.visit, "fetch": self.fetch, "fetchFrom": self.fetch_from,
                "sockets": self.sockets}


def run_browser(hub_url: str, sessions: list[BrowserSession]) -> dict[str, dict[str, Any]]:
    """Run ``hub_isolation_browser.js``; its report per user."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {"HUB_URL": hub_url, "ARTIFACTS": str(ARTIFACTS),
           "SESSIONS": json.dumps([s.as_json() for s in sessions])}
    report = run_driver(DRIVER, env, DRIVER_TIMEOUT, summary=_failed_steps)
    return {session["user"]: session for session in report["sessions"]}


def _failed_steps(report: dict[str, Any]) -> str:
    """What of a failed run's report says why: the driver's fatal error or each user's."""
    if "fatal" in report:
        return f"driver error: {report['fatal']}"
    failed = {s["user"]: s["error"] for s in report.get("sessions", []) if s.get("error")}
    return f"browser steps failed: {failed}"


# -- preview_host mode -------------------------------------------------------------------------
PREVIEW_HOST = "{port}-{kernel}.localhost"


def server_config_path(home: Path) -> Path:
    """The user's own ``jupyter_server_config.json`` (``~/.jupyter``), which
    ``jupyterhub-singleuser`` reads (the hub does not disable user config here)."""
    return home / ".jupyter" / "jupyter_server_config.json"


def single_user_url(hub_pid: int, user: str) -> str:
    """The address the user's ``jupyterhub-singleuser`` listens on, behind the proxy
    (``JUPYTERHUB_SERVICE_URL`` in its environment, e.g. ``http://127.0.0.1:PORT/user/alice/``)
    — what a host-routed deployment would send the preview hosts to."""
    import psutil

    for child in psutil.Process(hub_pid).children(recursive=True):
        try:
            env = child.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if env.get("JUPYTERHUB_USER") == user and env.get("JUPYTERHUB_SERVICE_URL"):
            return env["JUPYTERHUB_SERVICE_URL"]
    raise AssertionError(f"no jupyterhub-singleuser process of {user} under the hub")


def loopback_get(url: str, **kwargs: Any) -> httpx.Response:
    """GET a ``*.localhost`` URL as a browser does: to 127.0.0.1, Host header unchanged."""
    target = httpx.URL(url)
    headers = {"Host": target.netloc.decode("ascii"), **kwargs.pop("headers", {})}
    return httpx.get(str(target.copy_with(host="127.0.0.1")), headers=headers,
                     follow_redirects=False, timeout=60, **kwargs)
