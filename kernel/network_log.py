"""The network audit in the kernel's log.

The broker (``runtime/network/broker.py``) logs every connection attempt - allowed with the
bytes each way when it closes, refused with the reason - on the ``jupyter_sandbox.network``
logger at INFO. A kernel's own log (ipykernel's application logger, written to the kernel's
stderr, which the Jupyter server shows in its console) passes warnings only by default, so the
audit would be lost; this sends the network logger's records to the kernel log's handlers at
INFO whatever the kernel's log level.
"""

from __future__ import annotations

import logging
import sys

NETWORK_LOGGER = "jupyter_sandbox.network"


def attach(kernel_log: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    """Route ``jupyter_sandbox.network`` at INFO to the handlers ``kernel_log`` writes through
    (its own or its ancestors'; stderr when it has none). Safe to call twice."""
    network = logging.getLogger(NETWORK_LOGGER)
    if getattr(network, "_kernel_log_attached", False):
        return
    logger = kernel_log.logger if isinstance(kernel_log, logging.LoggerAdapter) else kernel_log
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None and not handlers:
        handlers = list(current.handlers)
        current = current.parent if current.propagate else None
    if not handlers:
        fallback = logging.StreamHandler(sys.stderr)
        fallback.setFormatter(logging.Formatter("[%(levelname)s %(name)s] %(message)s"))
        handlers = [fallback]
    for handler in handlers:
        # The kernel's handlers filter at the kernel's level (traitlets sets it on the
        # handler too): a twin writing to the same stream, with the same format, at INFO.
        stream = getattr(handler, "stream", None)
        if stream is None:  # not a stream: shared as it is (never change the kernel's own)
            network.addHandler(handler)
            continue
        twin = logging.StreamHandler(stream)
        twin.setFormatter(handler.formatter)
        twin.setLevel(logging.INFO)
        network.addHandler(twin)
    network.setLevel(logging.INFO)
    network.propagate = False
    network._kernel_log_attached = True  # type: ignore[attr-defined]
