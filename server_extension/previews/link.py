"""``{base_url}sandbox/preview/{kernel_id}/{port}/{path}``: the preview link on the Jupyter
origin, behind Jupyter's login (403, never a login redirect, for every method and upgrade).

* Shared-origin mode (no ``preview_host``): a logged-in browser's navigation (GET/HEAD with
  ``Sec-Fetch-Dest`` document/iframe/frame or ``Sec-Fetch-Mode: navigate``, no
  ``Authorization``) answers 302 to the same path below a capability,
  ``.../{port}/~{capability}/{path}`` (``capability``), where the sandboxed page's own
  requests work without the Jupyter cookie they cannot carry. Everything else — API clients
  with the token, every other method, WebSocket upgrades — is proxied here as it is.
  Every response carries ``Content-Security-Policy: sandbox ...`` without
  ``allow-same-origin``, so the page runs in an opaque origin, and ``Referrer-Policy:
  no-referrer``; the app's ``Set-Cookie`` is dropped (noted once per kernel in the server log);
  no cookie, token, Jupyter ``Authorization`` or ``Referer`` reaches the guest.
* ``preview_host`` mode: GET/HEAD answer 302 to the preview's own origin with a one-time token
  (``origin``); other methods and WebSocket upgrades get 405 (they belong on the
  preview's origin): nothing is proxied on the Jupyter origin.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from . import forwarding
from .capability import capability_location, note_dropped_cookies, wants_capability
from .grants import PreviewGrants
from .hosts import PreviewHosts
from .origin import AUTH_PATH
from .proxy import PreviewProxyHandler, PreviewTarget

ROUTE = r"/sandbox/preview/(?P<kernel_id>[^/]+)/(?P<port>[^/]+)(?P<path>/.*)?"


class PreviewLinkHandler(PreviewProxyHandler, JupyterHandler):
    auth_resource = "kernels"
    messages = {**PreviewProxyHandler.messages,
                405: "In this server previews open on their own origin: open the preview "
                     "link with GET (a browser does) and use the page it leads to."}

    # -- authentication ----------------------------------------------------------------------
    async def prepare(self) -> None:  # type: ignore[override]
        # 403 rather than a redirect to the login page, for every method and for upgrades.
        await JupyterHandler.prepare(self, _redirect_to_login=False)
        if self.current_user is None:
            raise web.HTTPError(403)
        if not self.authorizer.is_authorized(self, self.current_user, "execute", "kernels"):
            raise web.HTTPError(403)

    def check_xsrf_cookie(self) -> None:
        """Preview apps post their own forms, which cannot carry Jupyter's XSRF token, so
        instead of the token a cookie-authenticated request that changes state must come from
        the same origin (browsers send ``Origin`` with cross-site POSTs)."""
        if not hasattr(self, "_jupyter_current_user") or self.token_authenticated:
            return
        if self.request.headers.get("Origin") and not JupyterHandler.check_origin(self):
            raise web.HTTPError(403)

    def check_origin(self, origin: str) -> bool:  # type: ignore[override]
        return PreviewProxyHandler.check_origin(self, origin)

    def set_default_headers(self) -> None:
        super().set_default_headers()
        if self.preview_hosts is None:  # every response, errors and redirects included
            self.add_header("Content-Security-Policy", forwarding.SANDBOX_CSP)
            self.set_header("Referrer-Policy", "no-referrer")

    @property
    def preview_hosts(self) -> PreviewHosts | None:
        return self.settings.get("jupyter_sandbox_preview_hosts")

    # -- routing -----------------------------------------------------------------------------
    def preview_target(self, kernel_id: str, port: str, path: str | None = None) -> PreviewTarget:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise web.HTTPError(400)
        # The raw (still percent-encoded) path below the port, as the browser sent it.
        head = f"{self.base_url}sandbox/preview/"
        _kid, _port, *tail = self.request.path[len(head):].split("/", 2)
        return PreviewTarget(kernel_id, int(port), f"{head}{_kid}/{_port}",
                             "/" + tail[0] if tail else "")

    def forwarding_rules(self, target: PreviewTarget) -> forwarding.ForwardingRules:
        return dataclasses.replace(
            super().forwarding_rules(target),
            jupyter_cookies=frozenset({self.identity_provider.get_cookie_name(self)}),
            jupyter_token=self.identity_provider.token or "")

    def on_cookies_dropped(self, target: PreviewTarget) -> None:
        note_dropped_cookies(self.settings, self.log, target)

    # -- shared origin: a browser's page opens below a capability ------------------------------
    async def _redirect_to_capability(self, *args: str, **kwargs: str) -> None:
        target = self.preview_target(*args, **kwargs)
        await self.kernel_socket(target.kernel_id)  # 404/502 here, not below the capability
        grants: PreviewGrants = self.settings["jupyter_sandbox_preview_grants"]
        capability = grants.issue_capability(target.kernel_id, target.port)
        self.set_header("Cache-Control", "no-store")
        self.redirect(capability_location(target.prefix, capability, target.below,
                                          self.request.query), permanent=False)

    # -- preview_host mode: a redirect to the preview's own origin ---------------------------
    async def get(self, *args: str, **kwargs: str) -> None:
        if self.preview_hosts is None:
            if wants_capability(self.request):
                await self._redirect_to_capability(*args, **kwargs)
            else:
                await super().get(*args, **kwargs)
        elif self.request.headers.get("Upgrade", "").lower() == "websocket":
            raise web.HTTPError(405)
        else:
            await self._redirect_to_origin(*args, **kwargs)

    async def _proxied(self, *args: str, **kwargs: str) -> None:
        if self.preview_hosts is not None:
            if self.request.method == "HEAD":
                await self._redirect_to_origin(*args, **kwargs)
                return
            raise web.HTTPError(405)
        if wants_capability(self.request):  # HEAD
            await self._redirect_to_capability(*args, **kwargs)
            return
        await self._http(*args, **kwargs)

    head = post = put = delete = patch = options = _proxied

    async def _redirect_to_origin(self, *args: str, **kwargs: str) -> None:
        hosts = self.preview_hosts
        if hosts is None:
            raise web.HTTPError(404)
        target = self.preview_target(*args, **kwargs)
        await self.kernel_socket(target.kernel_id)  # 404/502 here, not on the other origin
        grants: PreviewGrants = self.settings["jupyter_sandbox_preview_grants"]
        token = grants.issue_token(target.kernel_id, target.port)
        query = forwarding.strip_token(self.request.query)
        next_url = (target.below or "/") + (f"?{query}" if query else "")
        _name, _sep, server_port = self.request.host.rpartition(":")
        netloc = hosts.host(target.kernel_id, target.port)
        if _sep and server_port.isdigit() and not self.request.host.endswith("]"):
            netloc += f":{server_port}"
        location = urllib.parse.urlunsplit((
            self.request.protocol, netloc, AUTH_PATH,
            urllib.parse.urlencode({"token": token, "next": next_url}), ""))
        # The Jupyter page that linked here (its URL may hold ?token=) is not the app's business.
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.redirect(location, permanent=False)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        PreviewProxyHandler.write_error(self, status_code, **kwargs)
