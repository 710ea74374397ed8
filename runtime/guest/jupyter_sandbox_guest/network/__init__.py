"""Sockets inside the sandbox, brokered by the host.

The guest has no socket of its own: WASI gives it none, and it must not have one. This package
replaces ``socket.socket`` (TCP over IPv4/IPv6), ``socket.create_connection``,
``getaddrinfo``/``gethostbyname``, and ``select.select``/``select.poll``/``selectors`` with
versions that ask the host (``host_calls``): the host checks the administrator's network policy,
opens the real connection, and relays bytes. So ``http.client``, ``urllib.request``,
``urllib3``/``requests`` and ``pandas.read_csv(url)`` work unchanged when the network is on,
and every socket says why when it is off.

* ``host_calls``: the binary network calls and the exceptions their errors become;
* ``sockets``: ``BrokeredSocket`` and the module-level functions;
* ``selecting``: ``select``, ``poll`` and the selectors over brokered and ordinary fds;
* ``ssl_shim``: the ``ssl`` module, whose TLS the host does (the guest has no ``_ssl``).
"""

from __future__ import annotations


def install() -> None:
    """Patch ``socket``, ``select`` and ``selectors`` (once, at the guest's set-up)."""
    from .selecting import install as install_selecting
    from .sockets import install as install_sockets
    from .ssl_shim import install as install_ssl

    install_sockets()
    install_selecting()
    install_ssl()  # `import ssl`: TLS done by the host
