"""Preview origins (``preview_host`` mode): every request whose host matches the pattern, e.g.
``8000-<kernel id>.localhost``, is the preview of that kernel's port, served at ``/`` of its own
origin — so its cookies, ``localStorage``, WebSockets and absolute asset paths work, and its
scripts have no access to the Jupyter origin.

* ``/__jupyter_sandbox_auth?token=...&next=/path``: spends the one-time token the Jupyter-origin
  link issued (``link``) and sets the preview cookie (host-only, HttpOnly), then
  302s to ``next``.
* every other path: the proxy, for holders of that cookie only (403 otherwise). Jupyter's
  cookies and tokens mean nothing here; the preview cookie is stripped before the app sees the
  request, and it means nothing on the Jupyter origin.

The host-pattern rule is put first in the application's router and ends in a catch-all, so
none of Jupyter's own handlers ever answers on a preview host (``/api/kernels`` there is the
app's path, behind the preview cookie), and these handlers exist on no other host.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from tornado import web
from tornado.routing import HostMatches

from . import forwarding
from .grants import PreviewGrants
from .hosts import PreviewHosts
from .proxy import MESSAGES, PreviewProxyHandler, PreviewTarget

AUTH_PATH = "/__jupyter_sandbox_auth"
_ORIGIN_MESSAGES = {
    **MESSAGES,
    403: "Forbidden: open this preview from its link in Jupyter (the link signs you in to "
         "the preview; it works once and only for a short time).",
    404: "No such preview: the kernel is not running.",
}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def register(web_app: web.Application, hosts: PreviewHosts) -> None:
    """Route every request for a preview host to the handlers below, before any other rule
    (``add_handlers`` would append it after the extensions' rules for any host)."""
    web_app.add_handlers(hosts.regex, [(AUTH_PATH, PreviewAuthHandler),
                                       (r"/.*", PreviewOriginHandler)])
    rules = web_app.default_router.rules
    rule = rules[-2]
    if not (isinstance(rule.matcher, HostMatches)
            and rule.matcher.host_pattern.pattern == hosts.regex):
        raise RuntimeError("tornado's add_handlers no longer puts a host rule second to last; "
                           "update jupyter_sandbox.server_extension.previews.origin.register")
    rules.insert(0, rules.pop(-2))


def secure_context(protocol: str, host_name: str) -> bool:
    """Whether browsers accept ``Secure`` cookies from this origin (https, or loopback)."""
    if protocol == "https" or host_name == "localhost" or host_name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host_name.strip("[]")).is_loopback
    except ValueError:
        return False


def session_cookie(value: str, *, max_age: int, secure: bool) -> str:
    """The preview cookie: host-only (no Domain), HttpOnly, for the whole origin. Where the
    browser takes ``Secure`` it is ``SameSite=None; Secure; Partitioned`` so that it also works
    inside JupyterLab's (cross-site) preview iframe, where third-party cookies are blocked
    unless partitioned; otherwise (plain http, not loopback) ``SameSite=Lax``: new tabs work,
    the iframe does not — serve previews over https."""
    attributes = f"Path=/; Max-Age={max_age}; HttpOnly"
    if secure:
        return (f"{forwarding.PREVIEW_COOKIE}={value}; {attributes}; "
                "SameSite=None; Secure; Partitioned")
    return f"{forwarding.PREVIEW_COOKIE}={value}; {attributes}; SameSite=Lax"


def _safe_next(value: str) -> str:
    """``next`` as a path on this origin only (no ``//host``, no backslash tricks)."""
    if (not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)):
        return "/"
    return value


class _OnPreviewHost:
    """What both handlers of a preview host share: the preview named by the host."""

    request: Any
    settings: dict[str, Any]

    @property
    def grants(self) -> PreviewGrants:
        return self.settings["jupyter_sandbox_preview_grants"]

    def preview(self) -> tuple[str, int]:
        hosts: PreviewHosts = self.settings["jupyter_sandbox_preview_hosts"]
        found = hosts.target(self.request.host_name)
        if found is None:  # the router matched the same pattern: only a bad port gets here
            raise web.HTTPError(404)
        return found.kernel_id, found.port


class PreviewAuthHandler(_OnPreviewHost, web.RequestHandler):
    """Exchanges the link's one-time token for the preview cookie."""

    def check_xsrf_cookie(self) -> None:
        """Only GET is served, which changes nothing but this origin's own cookie."""

    def get(self) -> None:
        kernel_id, port = self.preview()
        session = self.grants.redeem(self.get_query_argument("token", ""), kernel_id, port)
        if session is None:
            raise web.HTTPError(403)
        self.set_header("Set-Cookie", session_cookie(
            session, max_age=int(self.grants.session_lifetime),
            secure=secure_context(self.request.protocol, self.request.host_name)))
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.redirect(_safe_next(self.get_query_argument("next", "/")), permanent=False)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"{status_code}\n{_ORIGIN_MESSAGES.get(status_code, 'Error')}\n")


class PreviewOriginHandler(_OnPreviewHost, PreviewProxyHandler):
    """The app, at ``/`` of its own origin, for holders of the preview cookie."""

    shared_origin = False
    messages = _ORIGIN_MESSAGES

    def prepare(self) -> None:
        kernel_id, port = self.preview()
        sessions = [value for header in self.request.headers.get_list("Cookie")
                    for name, value in forwarding.cookie_pairs(header)
                    if name == forwarding.PREVIEW_COOKIE]
        # Any of them: a sibling preview host may have tossed a cookie of the same name.
        if not any(self.grants.session_allows(s, kernel_id, port) for s in sessions):
            raise web.HTTPError(403)

    def check_xsrf_cookie(self) -> None:
        """The cookie is ``SameSite=None`` (for the iframe), so a request that changes state
        must not come from another origin: browsers send ``Origin`` with such requests."""
        origin = self.request.headers.get("Origin")
        if self.request.method not in _SAFE_METHODS and origin is not None \
                and not self.check_origin(origin):
            raise web.HTTPError(403)

    def preview_target(self, *args: str) -> PreviewTarget:
        kernel_id, port = self.preview()
        return PreviewTarget(kernel_id, port, "", self.request.path or "/")

    def forwarding_rules(self, target: PreviewTarget) -> forwarding.ForwardingRules:
        identity = self.settings.get("identity_provider")
        return dataclasses.replace(super().forwarding_rules(target),
                                   jupyter_token=getattr(identity, "token", "") or "")
