"""What the preview proxy changes in requests and responses: Jupyter's credentials removed,
the public prefix described, redirects kept under the prefix. Pure functions."""

from __future__ import annotations

import urllib.parse

from jupyter_sandbox.kernel.control_protocol import FORWARDED_HEADERS, HOP_BY_HOP

#: Request headers that never reach the guest: Jupyter's credentials, hop-by-hop headers,
#: and forwarding headers a client might forge (the proxy sets its own).
DROPPED_REQUEST_HEADERS = HOP_BY_HOP | {h.lower() for h in FORWARDED_HEADERS} | {
    "authorization", "x-xsrftoken", "x-csrftoken", "host", "content-length", "forwarded"}


def strip_token(query: str) -> str:
    """The query string without ``token`` parameters (Jupyter's token), otherwise unchanged."""
    kept = [part for part in query.split("&")
            if part and urllib.parse.unquote_plus(part.split("=", 1)[0]) != "token"]
    return "&".join(kept)


def strip_cookies(header: str, jupyter_cookies: set[str]) -> str:
    """A Cookie header without Jupyter's cookies (login cookie, ``_xsrf``)."""
    kept = []
    for item in header.split(";"):
        name = item.split("=", 1)[0].strip()
        if not name or name in jupyter_cookies or name == "_xsrf" or name.startswith("username-"):
            continue
        kept.append(item.strip())
    return "; ".join(kept)


def request_headers(items: list[tuple[str, str]], jupyter_cookies: set[str], *, prefix: str,
                    host: str, proto: str, client_ip: str) -> list[tuple[str, str]]:
    """Headers for the kernel: the client's minus credentials, plus ``X-Forwarded-*``."""
    out: list[tuple[str, str]] = []
    for name, value in items:
        lower = name.lower()
        if lower in DROPPED_REQUEST_HEADERS:
            continue
        if lower == "cookie":
            value = strip_cookies(value, jupyter_cookies)
            if not value:
                continue
        out.append((name, value))
    out += [("X-Forwarded-Prefix", prefix), ("X-Forwarded-Host", host),
            ("X-Forwarded-Proto", proto), ("X-Forwarded-For", client_ip)]
    return out


def rewrite_location(location: str, *, prefix: str, host: str, proto: str, port: int) -> str:
    """Keep a redirect under the preview prefix.

    ``/next`` (an app that ignored ``SCRIPT_NAME``) becomes ``{prefix}/next``; an absolute URL
    to the app itself (``http://localhost:8000/next`` or the public host without the prefix)
    becomes ``{proto}://{host}{prefix}/next``; relative and foreign URLs stay as they are.
    """
    parts = urllib.parse.urlsplit(location)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return location
    if parts.netloc:
        own = {host, f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
        if parts.netloc not in own:
            return location
        path = parts.path or "/"
        if not _under(path, prefix):
            path = prefix + path
        return urllib.parse.urlunsplit((proto, host, path, parts.query, parts.fragment))
    if parts.path.startswith("/") and not parts.path.startswith("//") and not _under(parts.path, prefix):
        return urllib.parse.urlunsplit(("", "", prefix + parts.path, parts.query, parts.fragment))
    return location


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def response_headers(items: list[tuple[str, str]], *, prefix: str, host: str, proto: str,
                     port: int) -> list[tuple[str, str]]:
    """The app's response headers for the browser: hop-by-hop removed, Location rewritten."""
    out = []
    for name, value in items:
        lower = name.lower()
        if lower in HOP_BY_HOP:
            continue
        if lower == "location":
            value = rewrite_location(value, prefix=prefix, host=host, proto=proto, port=port)
        out.append((name, value))
    return out

