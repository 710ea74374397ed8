"""Previews from inside the sandbox: publish a web app or a folder of files as a link.

    from jupyter_sandbox import serve
    serve(app, port=8000)                # a WSGI or ASGI callable
    serve(directory="site", port=8000)   # static files

The sandbox has no sockets: the kernel carries each HTTP request and WebSocket message in and
each response out, between cells. The Jupyter server publishes the app at
``{base_url}sandbox/preview/{kernel_id}/{port}/``, behind Jupyter's login.
"""

from __future__ import annotations

from ._registry import Preview, previews, serve, stop
from ._static import StaticSite

__all__ = ["Preview", "StaticSite", "previews", "serve", "stop"]
