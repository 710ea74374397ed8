"""A WSGI app that serves a folder: ``index.html`` for folders, content types from file
names, and nothing outside the folder (``..``, absolute paths and symlinks leading out are
refused)."""

from __future__ import annotations

import mimetypes
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

CHUNK = 64 * 1024
_ALLOW = "GET, HEAD, OPTIONS"


class StaticSite:
    """Serve the files below ``root`` (a WSGI application)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def __repr__(self) -> str:
        return f"StaticSite({self.root!r})"

    def resolve(self, path_info: str) -> str | None:
        """The real file path for a URL path (already percent-decoded), or None when it
        would leave the folder."""
        raw = path_info.encode("latin-1").decode("utf-8", "replace")
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if any(p == ".." or "\x00" in p for p in parts):
            return None
        candidate = os.path.realpath(os.path.join(self.root, *parts))
        if candidate != self.root and not candidate.startswith(self.root + os.sep):
            return None
        return candidate

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            start_response("204 No Content", [("Allow", _ALLOW)])
            return []
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "Method not allowed.\n",
                          [("Allow", _ALLOW)])
        path_info = environ.get("PATH_INFO", "") or "/"
        target = self.resolve(path_info)
        if target is None or not os.path.exists(target):
            return _plain(start_response, "404 Not Found", "Not found.\n")
        if os.path.isdir(target):
            if not path_info.endswith("/"):
                # Relative, so it stays under whatever prefix the site is published at.
                name = posixpath.basename(path_info.rstrip("/"))
                location = quote(name.encode("latin-1")) + "/"
                query = environ.get("QUERY_STRING")
                return _plain(start_response, "301 Moved Permanently", "Moved.\n",
                              [("Location", location + (f"?{query}" if query else ""))])
            target = os.path.join(target, "index.html")
            if not os.path.isfile(target):
                return _plain(start_response, "404 Not Found", "Not found.\n")
        content_type = mimetypes.guess_type(target)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript",
                                                                "application/json"):
            content_type += "; charset=utf-8"
        size = os.path.getsize(target)
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(size))])
        return _file_chunks(target)


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _plain(start_response: Callable[..., Any], status: str, text: str,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))), *(headers or [])])
    return [body]
