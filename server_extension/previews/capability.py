"""Previews on the shared Jupyter origin (no ``preview_host``) for pages that have no Jupyter
login: ``{base_url}sandbox/preview/{kernel}/{port}/~{capability}/{path}``.

Every preview response on the shared origin carries ``Content-Security-Policy: sandbox`` (no
``allow-same-origin``), so the page runs in an opaque origin. Its own requests — stylesheets,
scripts, ``fetch``, form posts, WebSockets — then come from an opaque initiator, which
browsers treat as cross-site: they carry no (``SameSite=Lax``) Jupyter cookie, and the
Jupyter-login link route would refuse them all. So the link route answers a logged-in browser's
*navigation* with a redirect to a capability path (``link``): a random id in the
path, bound to that kernel and port, living ``preview_session_lifetime``. The app is mounted
below that path (``SCRIPT_NAME`` / ``root_path`` include it), so relative links, ``url_for``
and the app's redirects stay under it, and the page's own requests need no cookie.

The capability is worth that preview only: this handler serves nothing but the app of the
kernel and port it is bound to (no Jupyter handler ever sees it, it is not a Jupyter token or
cookie), strips everything of Jupyter's from the requests as the link route does (no cookie,
``Authorization``, ``Referer`` or token reaches the guest), and keeps every response sandboxed
and ``Referrer-Policy: no-referrer`` so that the page's links do not hand the capability to
other sites through ``Referer``. A state-changing request or a WebSocket whose ``Origin`` is
neither ``null`` (the sandboxed page) nor the Jupyter origin is refused before the kernel
hears of it.

To the browser the sandboxed page is another origin than the server it came from, so its
``fetch`` calls (and module scripts, fonts) are CORS requests from ``Origin: null``. They are
allowed here (``Access-Control-Allow-Origin: null``, preflights answered by the proxy): no
ambient credential is involved below a capability — the path is the credential and every
cookie is stripped — so reading these responses gives a page nothing its knowledge of the
address did not already give it.
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from typing import Any

from tornado import httputil, web

from . import forwarding
from .grants import CREDENTIAL_PATTERN, PreviewGrants
from .proxy import MESSAGES, PreviewProxyHandler, PreviewTarget

#: Matched before the link route (``link.ROUTE``), in shared-origin mode only: a
#: first segment below the port of the shape of a capability is always taken for one.
ROUTE = (r"/sandbox/preview/(?P<kernel_id>[^/]+)/(?P<port>[^/]+)/~(?P<capability>"
         + CREDENTIAL_PATTERN + r")(?P<path>/.*)?")

#: ``Sec-Fetch-Dest`` values of a browser loading a page (a tab, an iframe, a frame).
_DOCUMENT_DESTINATIONS = {"document", "iframe", "frame"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
#: Characters left as they are in a redirect's path and query ("%" so escapes pass unchanged).
_PATH_SAFE = "/%!$&'()*+,;=:@~-._"
_QUERY_SAFE = _PATH_SAFE + "?"

CAPABILITY_MESSAGES = {
    **MESSAGES,
    403: "Forbidden: this preview address has expired or belongs to another preview. Reopen "
         "the preview from its link in Jupyter.",
}


def wants_capability(request: httputil.HTTPServerRequest) -> bool:
    """Whether a request to the link route is a browser opening a page (to be redirected to a
    capability path) rather than an API client (proxied directly, as always): GET or HEAD, not a
    WebSocket upgrade, no ``Authorization`` header, and the browser says it is a navigation
    (``Sec-Fetch-Dest`` document/iframe/frame or ``Sec-Fetch-Mode: navigate``)."""
    headers = request.headers
    if request.method not in ("GET", "HEAD") or "Authorization" in headers:
        return False
    if headers.get("Upgrade", "").lower() == "websocket":
        return False
    return (headers.get("Sec-Fetch-Dest", "").lower() in _DOCUMENT_DESTINATIONS
            or headers.get("Sec-Fetch-Mode", "").lower() == "navigate")


def _as_sent(raw: str, safe: str) -> str:
    """A raw path or query (tornado's latin-1 view of the request bytes) fit for a
    ``Location`` header: the same bytes, non-ASCII ones percent-encoded."""
    if any(ord(c) > 255 for c in raw):
        return urllib.parse.quote(raw.encode("utf-8"), safe=safe)
    return urllib.parse.quote(raw.encode("latin-1"), safe=safe)


def capability_location(link_prefix: str, capability: str, below: str, query: str) -> str:
    """Where the link route sends a navigation: the same path below the capability, the query
    without Jupyter's ``token``."""
    location = f"{link_prefix}/~{capability}{_as_sent(below or '/', _PATH_SAFE)}"
    stripped = forwarding.strip_token(query)
    return location + (f"?{_as_sent(stripped, _QUERY_SAFE)}" if stripped else "")


def jupyter_content_security_policy(settings: dict[str, Any]) -> str:
    """The policy Jupyter's own handlers send (``ServerApp.tornado_settings['headers']`` if it
    sets one, else ``frame-ancestors 'self'`` with Jupyter's report URI), so that a capability
    page is framed exactly where JupyterLab may be."""
    configured = settings.get("headers", {}).get("Content-Security-Policy")
    if configured:
        return str(configured)
    base_url = settings.get("base_url", "/")
    report = settings.get("csp_report_uri") or f"{base_url.rstrip('/')}/api/security/csp-report"
    return f"frame-ancestors 'self'; report-uri {report}"


def note_dropped_cookies(settings: dict[str, Any],
                         log: logging.Logger | logging.LoggerAdapter[logging.Logger],
                         target: PreviewTarget) -> None:
    """Say once per kernel in the server log that the app's cookies were dropped."""
    noted: set[str] = settings.setdefault("jupyter_sandbox_cookie_notices", set())
    if target.kernel_id not in noted:
        noted.add(target.kernel_id)
        log.warning(
            "preview: an app of kernel %s (port %s) sets cookies; they are not passed to "
            "the browser on the shared Jupyter origin. Set "
            "SandboxExtensionApp.preview_host to give previews origins of their own.",
            target.kernel_id, target.port)


class PreviewCapabilityHandler(PreviewProxyHandler):
    """The app below a live capability of its preview; no Jupyter login asked or looked at."""

    messages = CAPABILITY_MESSAGES

    @property
    def grants(self) -> PreviewGrants:
        return self.settings["jupyter_sandbox_preview_grants"]

    def set_default_headers(self) -> None:
        """Jupyter's defaults (its configured headers, its policy: framed where JupyterLab
        is), the sandbox, and no ``Referer`` from the page (it would carry the capability)."""
        headers = {"X-Content-Type-Options": "nosniff", **self.settings.get("headers", {})}
        headers["Content-Security-Policy"] = jupyter_content_security_policy(self.settings)
        for name, value in headers.items():
            self.set_header(name, value)
        self.add_header("Content-Security-Policy", forwarding.SANDBOX_CSP)
        self.set_header("Referrer-Policy", "no-referrer")
        if self.request.headers.get("Origin") == "null":  # the sandboxed page's own fetch()
            self.set_header("Access-Control-Allow-Origin", "null")
            self.set_header("Access-Control-Allow-Credentials", "true")
            self.set_header("Vary", "Origin")

    def prepare(self) -> None:
        """403 unless the path's capability is live and bound to the path's kernel and port,
        before anything else (a WebSocket upgrade included)."""
        kwargs = self.path_kwargs
        port = kwargs.get("port") or ""
        if not (port.isdigit() and self.grants.capability_allows(
                kwargs.get("capability") or "", kwargs.get("kernel_id") or "", int(port))):
            raise web.HTTPError(403)

    def check_origin(self, origin: str) -> bool:
        """The sandboxed page's own requests say ``Origin: null``; a page of the Jupyter
        origin says that origin. Anything else is another site holding a leaked address."""
        return origin == "null" or PreviewProxyHandler.check_origin(self, origin)

    def check_xsrf_cookie(self) -> None:
        """No cookie authenticates here (the capability in the path does), so Jupyter's XSRF
        token is moot; a state-changing request must still not come from another site."""
        origin = self.request.headers.get("Origin")
        if (self.request.method not in _SAFE_METHODS and origin is not None
                and not self.check_origin(origin)):
            raise web.HTTPError(403)

    async def options(self, *args: str, **kwargs: str) -> None:
        """A CORS preflight of the sandboxed page is the proxy's to answer (the app would
        not know that its own page is another origin); any other OPTIONS goes to the app."""
        headers = self.request.headers
        method = headers.get("Access-Control-Request-Method", "").upper()
        if headers.get("Origin") != "null" or not method:
            await self._http(*args, **kwargs)
            return
        if method not in self.SUPPORTED_METHODS:
            raise web.HTTPError(405)
        self.set_status(204)
        self.set_header("Access-Control-Allow-Methods", method)
        requested = headers.get("Access-Control-Request-Headers", "")
        if requested:
            self.set_header("Access-Control-Allow-Headers", requested)
        self.set_header("Access-Control-Max-Age", "600")
        self.finish()

    def preview_target(self, kernel_id: str, port: str, capability: str,
                       path: str | None = None) -> PreviewTarget:
        # The raw (still percent-encoded) path below the capability, as the browser sent it.
        head = f"{self.settings.get('base_url', '/')}sandbox/preview/"
        raw_kernel, raw_port, raw_capability, *tail = self.request.path[len(head):].split("/", 3)
        link_prefix = f"{head}{raw_kernel}/{raw_port}"
        return PreviewTarget(kernel_id, int(port), f"{link_prefix}/{raw_capability}",
                             "/" + tail[0] if tail else "", link_prefix=link_prefix)

    def forwarding_rules(self, target: PreviewTarget) -> forwarding.ForwardingRules:
        identity = self.settings.get("identity_provider")
        return dataclasses.replace(super().forwarding_rules(target),
                                   jupyter_token=getattr(identity, "token", "") or "")

    def on_cookies_dropped(self, target: PreviewTarget) -> None:
        note_dropped_cookies(self.settings, self.proxy_log, target)
