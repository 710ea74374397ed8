"""The previews registered in this interpreter, by port. Kept in guest memory, so a snapshot
of the sandbox carries them."""

from __future__ import annotations

import html
import inspect
import os
from dataclasses import dataclass, field
from typing import Any

from ._static import StaticSite

MIME_TYPE = "application/vnd.jupyter-sandbox.preview+json"
#: Set by the kernel when it was started by a Jupyter server with the jupyter_sandbox
#: extension: the public URL under which this kernel's previews appear (ends with "/").
PREVIEW_URL_ENV = "JUPYTER_SANDBOX_PREVIEW_URL"
KERNEL_ID_ENV = "JUPYTER_SANDBOX_KERNEL_ID"

_servers: dict[int, Preview] = {}


@dataclass
class Preview:
    """A registered app. Its rich repr is the link to open it."""

    port: int
    app: Any = field(repr=False)
    #: "wsgi", "asgi" or "static".
    kind: str
    directory: str | None = None

    @property
    def url(self) -> str | None:
        """The full URL of the preview, or None when no Jupyter server is known."""
        base = os.environ.get(PREVIEW_URL_ENV)
        return f"{base}{self.port}/" if base else None

    @property
    def path(self) -> str | None:
        """The URL path below the Jupyter server's base URL (for front ends)."""
        kernel_id = os.environ.get(KERNEL_ID_ENV)
        return f"sandbox/preview/{kernel_id}/{self.port}/" if kernel_id else None

    def _what(self) -> str:
        if self.kind == "static":
            return f"files from {self.directory}"
        return f"{self.kind.upper()} app {getattr(self.app, '__name__', type(self.app).__name__)}"

    def __str__(self) -> str:
        if self.url:
            return f"Preview of {self._what()} on port {self.port}: {self.url}"
        return (f"Preview of {self._what()} on port {self.port}: registered, but previews need "
                "the Jupyter server with the jupyter_sandbox extension to be opened in a browser")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        url = self.url
        if url:
            link = (f'<a href="{html.escape(url)}" target="_blank" rel="noopener">'
                    f'{html.escape(url)}</a>')
            text_html = f"Preview of {html.escape(self._what())} on port {self.port}: {link}"
        else:
            text_html = (f"Preview of {html.escape(self._what())} on port {self.port} is "
                         "registered, but previews need the Jupyter server (with the "
                         "<code>jupyter_sandbox</code> extension) to be opened in a browser.")
        return {
            "text/plain": str(self),
            "text/html": text_html,
            MIME_TYPE: {"port": self.port, "kind": self.kind, "url": url, "path": self.path,
                        "kernel_id": os.environ.get(KERNEL_ID_ENV)},
        }


def _kind_of(app: Any) -> str:
    """ASGI apps are coroutine functions (or objects whose ``__call__`` is one) of three
    arguments; everything else callable is taken as WSGI."""
    plain = inspect.isfunction(app) or inspect.ismethod(app)
    target = app if plain else getattr(app, "__call__", None)  # noqa: B004 - the method itself
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(app):
        return "asgi"
    return "wsgi"


def _check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an integer from 1 to 65535, got {port!r}")
    return port


def serve(app: Any = None, port: int = 8000, *, directory: str | os.PathLike[str] | None = None,
          kind: str | None = None) -> Preview:
    """Publish ``app`` (a WSGI or ASGI callable) or a ``directory`` of static files on ``port``.

    The port is only a name for the preview: nothing listens on it. Serving again on a port
    replaces what was there. ``kind`` ("wsgi" or "asgi") overrides the detection of the
    callable's interface.
    """
    port = _check_port(port)
    if (app is None) == (directory is None):
        raise TypeError("serve() needs either an app or directory=..., not both")
    if directory is not None:
        folder = os.path.realpath(os.fspath(directory))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"serve(directory=...): no such folder: {folder}")
        preview = Preview(port, StaticSite(folder), "static", folder)
    else:
        if not callable(app):
            raise TypeError(f"serve() needs a WSGI or ASGI callable, got {type(app).__name__}")
        if kind not in (None, "wsgi", "asgi"):
            raise ValueError(f"kind must be 'wsgi' or 'asgi', got {kind!r}")
        preview = Preview(port, app, kind or _kind_of(app))
    _servers[port] = preview
    return preview


def stop(port: int) -> bool:
    """Stop publishing ``port``; returns whether something was registered there."""
    return _servers.pop(_check_port(port), None) is not None


def previews() -> list[Preview]:
    """The registered previews, by port."""
    return [_servers[port] for port in sorted(_servers)]


def lookup(port: int) -> Preview | None:
    return _servers.get(port)
