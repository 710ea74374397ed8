"""What the network broker raises on purpose, defined with the runtime's other errors in
``runtime/errors.py`` (one module for every ``SandboxError``) and named here for the network
modules. Each is a ``SandboxError`` and the built-in the guest's code would catch natively; the
router turns each into the error the guest raises (``kind`` in ``protocol.NetErrorAnswer``)."""

from __future__ import annotations

from ..errors import (
    ALLOW_TRAIT,
    NETWORK_TRAIT,
    ConnectionLostError,
    NetworkDisabledError,
    NetworkError,
    NetworkLimitError,
    NetworkRefusedError,
    RequestRefusedError,
    TlsError,
    TlsVerificationError,
)

__all__ = ["ALLOW_TRAIT", "NETWORK_TRAIT", "ConnectionLostError", "NetworkDisabledError",
           "NetworkError", "NetworkLimitError", "NetworkRefusedError",
           "RequestRefusedError", "TlsError", "TlsVerificationError"]
