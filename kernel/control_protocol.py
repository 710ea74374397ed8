"""What the server extension and a kernel agree on to talk over the kernel's control socket.

The socket lies beside the kernel's connection file (in Jupyter's runtime directory), named
after it: ``kernel-<id>.json`` → ``kernel-<id>.sandbox.sock``. It speaks HTTP/1.1:

* ``GET /status`` → ``Sandbox.status()`` as JSON.
* ``/preview/<port>/<path>``, any method → the response of the app the guest serves on
  ``<port>``, streamed. The proxy describes the public request in ``X-Forwarded-Prefix`` (the
  URL path the app is published under, no trailing slash), ``X-Forwarded-Host``,
  ``X-Forwarded-Proto`` and ``X-Forwarded-For``; every other header goes to the app.
* ``/preview-ws/<port>/<path>``: the same as a WebSocket.
* ``GET``/``PUT /snapshot`` (whole sandbox, bytes) and ``/snapshots[/<name>[/restore]]``
  (named snapshots): see ``control_snapshots``.

This module imports nothing heavy: the server extension uses it without loading a kernel.
"""

from __future__ import annotations

from pathlib import Path

#: The Jupyter server sets this in its environment (so kernels it starts inherit it): its
#: public base URL, ending with "/".
SERVER_URL_ENV = "JUPYTER_SANDBOX_SERVER_URL"
SOCKET_SUFFIX = ".sandbox.sock"
#: AF_UNIX paths longer than this do not fit ``sockaddr_un`` on Linux.
MAX_SOCKET_PATH = 107
FORWARDED_HEADERS = ("X-Forwarded-Prefix", "X-Forwarded-Host", "X-Forwarded-Proto",
                     "X-Forwarded-For")
#: Hop-by-hop headers (RFC 9110 §7.6.1): never passed on by a proxy.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})


def socket_path_for(connection_file: str | Path) -> Path:
    """The control socket of the kernel whose connection file is ``connection_file``."""
    path = Path(connection_file)
    name = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(name + SOCKET_SUFFIX)


def kernel_id_from(connection_file: str | Path) -> str | None:
    """The kernel id in a connection file name as Jupyter names them (``kernel-<id>.json``)."""
    name = Path(connection_file).name
    if name.startswith("kernel-") and name.endswith(".json"):
        return name[len("kernel-"):-len(".json")] or None
    return None
