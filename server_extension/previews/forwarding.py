"""What the preview proxy changes in requests and responses. Pure functions.

Requests: Jupyter's credentials never reach the guest (``token`` query parameters, Jupyter's
``Authorization`` schemes, Jupyter's cookies, the ``Referer`` of another origin); on the shared
origin no cookie at all, on a preview origin every cookie but the proxy's own credential (the
others are host-only cookies of that preview host: the app's own). The public prefix is
described in ``X-Forwarded-*`` headers.

Responses: hop-by-hop headers removed, redirects kept under the prefix; on the shared origin
``Set-Cookie`` and ``Referrer-Policy`` dropped (the handler adds ``Content-Security-Policy:
sandbox`` and ``Referrer-Policy: no-referrer``); on a preview origin the app's cookies pass,
made host-only, and never under the proxy credential's name.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from jupyter_sandbox.kernel.control_protocol import FORWARDED_HEADERS, HOP_BY_HOP

#: The preview origin's credential cookie (set by the proxy, never passed to the app).
PREVIEW_COOKIE = "jupyter-sandbox-preview"

#: Every preview response on the shared (Jupyter) origin carries this policy: the page runs in
#: an opaque origin, so it can neither read nor use the Jupyter session (no allow-same-origin).
SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"

#: Request headers that never reach the guest: Jupyter's XSRF headers, hop-by-hop headers,
#: and forwarding headers a client might forge (the proxy sets its own).
DROPPED_REQUEST_HEADERS = HOP_BY_HOP | {h.lower() for h in FORWARDED_HEADERS} | {
    "x-xsrftoken", "x-csrftoken", "host", "content-length", "forwarded"}

#: Response headers an app may not send on the shared origin: they would act on the Jupyter
#: origin itself (clear its cookies and storage, widen a service worker's scope), or replace
#: the proxy's ``Referrer-Policy: no-referrer`` (a capability path must not leak via Referer).
SHARED_ORIGIN_DROPPED = {"set-cookie", "set-cookie2", "clear-site-data", "service-worker-allowed",
                         "referrer-policy"}

#: ``Authorization`` schemes Jupyter accepts its token in (``token abc``, ``bearer abc``).
_JUPYTER_AUTH = re.compile(r"^\s*(token|bearer)\s", re.IGNORECASE)
#: Bytes that may stand in a request target as they are (RFC 3986 pchar, "/", "?" excluded,
#: "%" kept so existing escapes pass through unchanged).
_PATH_SAFE = "/%!$&'()*+,;=:@~-._"


def strip_token(query: str) -> str:
    """The query string without ``token`` parameters (Jupyter's token), otherwise unchanged."""
    kept = [part for part in query.split("&")
            if part and urllib.parse.unquote_plus(part.split("=", 1)[0]) != "token"]
    return "&".join(kept)


def upstream_path(raw: str) -> str:
    """The request path for the kernel, the same bytes as the browser sent.

    tornado hands the path over as the request line's bytes decoded as latin-1; its client
    writes the request line UTF-8-encoded. A path sent as raw UTF-8 (``/wörld`` unescaped) would
    thus reach the kernel encoded twice. Give the client text that encodes back to the original
    bytes: the UTF-8 text when the bytes are UTF-8, otherwise (or for control characters) the
    offending bytes percent-encoded."""
    data = raw.encode("latin-1", "strict") if all(ord(c) < 256 for c in raw) else raw.encode()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return urllib.parse.quote(data, safe=_PATH_SAFE)
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        return urllib.parse.quote(data, safe=_PATH_SAFE)
    return text


def cookie_pairs(header: str) -> list[tuple[str, str]]:
    """``name=value`` pairs of a Cookie header, in order, duplicates kept."""
    pairs = []
    for item in header.split(";"):
        name, _, value = item.strip().partition("=")
        if name.strip():
            pairs.append((name.strip(), value.strip()))
    return pairs


def strip_cookies(header: str, jupyter_cookies: set[str]) -> str:
    """A Cookie header without Jupyter's cookies (login cookie, ``_xsrf``) and the proxy's."""
    kept = []
    for item in header.split(";"):
        name = item.split("=", 1)[0].strip()
        if (not name or name in jupyter_cookies or name in ("_xsrf", PREVIEW_COOKIE)
                or name.startswith("username-")):
            continue
        kept.append(item.strip())
    return "; ".join(kept)


@dataclass(frozen=True)
class ForwardingRules:
    """How one preview request is forwarded: public prefix (empty on a preview origin, where
    the app is mounted at ``/``), host and scheme, and whether it is the shared origin."""

    prefix: str
    host: str
    proto: str
    client_ip: str
    shared_origin: bool
    jupyter_cookies: frozenset[str] = frozenset()
    #: The Jupyter server's own token, if it has one (never passed on, under any scheme).
    jupyter_token: str = ""

    @property
    def origin(self) -> str:
        return f"{self.proto}://{self.host}"


def _same_origin_referer(value: str, rules: ForwardingRules) -> bool:
    parts = urllib.parse.urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}".lower() == rules.origin.lower()


def _jupyter_authorization(value: str, rules: ForwardingRules) -> bool:
    if _JUPYTER_AUTH.match(value):
        return True
    return bool(rules.jupyter_token) and rules.jupyter_token in value


def request_headers(items: list[tuple[str, str]], rules: ForwardingRules) -> list[tuple[str, str]]:
    """Headers for the kernel: the client's minus credentials, plus ``X-Forwarded-*``."""
    out: list[tuple[str, str]] = []
    for name, value in items:
        lower = name.lower()
        if lower in DROPPED_REQUEST_HEADERS:
            continue
        if lower == "cookie":
            if rules.shared_origin:
                continue
            value = strip_cookies(value, set(rules.jupyter_cookies))
            if not value:
                continue
        elif lower == "authorization":
            if rules.shared_origin or _jupyter_authorization(value, rules):
                continue
        elif lower == "referer":
            if rules.shared_origin or not _same_origin_referer(value, rules):
                continue
        out.append((name, value))
    out += [("X-Forwarded-Prefix", rules.prefix), ("X-Forwarded-Host", rules.host),
            ("X-Forwarded-Proto", rules.proto), ("X-Forwarded-For", rules.client_ip)]
    return out


def rewrite_location(location: str, *, prefix: str, host: str, proto: str, port: int,
                     link_prefix: str = "") -> str:
    """Keep a redirect under the preview prefix.

    ``/next`` (an app that ignored ``SCRIPT_NAME``) becomes ``{prefix}/next``; an absolute URL
    to the app itself (``http://localhost:8000/next`` or the public host without the prefix)
    becomes ``{proto}://{host}{prefix}/next``; relative and foreign URLs stay as they are.
    With ``link_prefix`` (the app is mounted below a capability under the link route), a path
    under the link prefix but not the capability (an app configured with the link's base URL)
    is moved below the capability: ``{link_prefix}/next`` → ``{prefix}/next``.
    """
    parts = urllib.parse.urlsplit(location)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return location
    if parts.netloc:
        own = {host, f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
        if parts.netloc not in own:
            return location
        path = _public_path(parts.path or "/", prefix, link_prefix)
        return urllib.parse.urlunsplit((proto, host, path, parts.query, parts.fragment))
    absolute = parts.path.startswith("/") and not parts.path.startswith("//")
    if absolute and not _under(parts.path, prefix):
        path = _public_path(parts.path, prefix, link_prefix)
        return urllib.parse.urlunsplit(("", "", path, parts.query, parts.fragment))
    return location


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _public_path(path: str, prefix: str, link_prefix: str) -> str:
    if _under(path, prefix):
        return path
    if link_prefix and _under(path, link_prefix):
        return prefix + path[len(link_prefix):]
    return prefix + path


def host_only_cookie(set_cookie: str) -> str | None:
    """An app's ``Set-Cookie`` for a preview origin: without ``Domain`` (so it stays on the
    preview host and cannot be tossed to sibling hosts or the Jupyter host), or None for a
    cookie under the proxy credential's name (the app may not replace it)."""
    first, *attributes = set_cookie.split(";")
    name = first.split("=", 1)[0].strip()
    if not name or name == PREVIEW_COOKIE:
        return None
    kept = [a for a in attributes if a.split("=", 1)[0].strip().lower() != "domain"]
    return ";".join([first, *kept])


@dataclass
class ResponseHeaders:
    items: list[tuple[str, str]]
    #: The app tried to set cookies that were dropped (shared origin).
    dropped_cookies: bool = False


def response_headers(items: list[tuple[str, str]], *, prefix: str, host: str, proto: str,
                     port: int, shared_origin: bool = True,
                     link_prefix: str = "") -> ResponseHeaders:
    """The app's response headers for the browser: hop-by-hop removed, Location rewritten;
    on the shared origin the headers that would act on the Jupyter origin dropped. (The
    handler adds ``SANDBOX_CSP`` to every response there, the app's own policies beside it:
    browsers enforce every policy, so the sandbox applies whatever the app sends.)"""
    out = []
    dropped = False
    for name, value in items:
        lower = name.lower()
        if lower in HOP_BY_HOP:
            continue
        if shared_origin and lower in SHARED_ORIGIN_DROPPED:
            dropped = dropped or lower.startswith("set-cookie")
            continue
        if lower == "set-cookie":
            cookie = host_only_cookie(value)
            if cookie is None:
                continue
            value = cookie
        if lower == "location":
            value = rewrite_location(value, prefix=prefix, host=host, proto=proto, port=port,
                                     link_prefix=link_prefix)
        out.append((name, value))
    return ResponseHeaders(out, dropped)
