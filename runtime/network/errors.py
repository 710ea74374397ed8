"""What the network broker raises on purpose. Each is a ``SandboxError`` and the built-in the
guest's code would catch natively; the router turns each into the error the guest raises
(``kind`` in ``protocol.NetErrorAnswer``)."""

from __future__ import annotations

import errno

from ..errors import SandboxError

#: The trait an administrator sets to turn the network on (named in the messages).
NETWORK_TRAIT = "SandboxKernel.network"
ALLOW_TRAIT = "SandboxKernel.network_allow"


class NetworkError(SandboxError, OSError):
    """Base class; ``kind`` says which exception the guest raises."""

    kind = "os"
    errno: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NetworkDisabledError(NetworkError, PermissionError):
    """The sandbox's network policy is off (the default)."""

    kind = "disabled"
    errno = errno.EACCES

    def __init__(self) -> None:
        super().__init__(
            "network access is off in this sandbox: the administrator has not enabled it. "
            f"Ask them to set c.{NETWORK_TRAIT} = True and allow the hosts you need in "
            f"c.{ALLOW_TRAIT} (e.g. ['api.example.com:443']) in the Jupyter configuration.")


class NetworkRefusedError(NetworkError, PermissionError):
    """The policy refused this host or address; the message names the rule or range."""

    kind = "refused"
    errno = errno.EACCES

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"the sandbox's network policy refused {target}: {reason}")
        self.reason = reason


class NetworkLimitError(NetworkError):
    """A connection or byte limit of the policy was reached."""

    kind = "limit"
    errno = errno.EDQUOT


class ConnectionLostError(NetworkError, ConnectionResetError):
    """A connection id the broker does not hold: it was open when a snapshot was taken (or in
    the sandbox a snapshot came from) and connections are never restored."""

    kind = "lost"
    errno = errno.ECONNRESET

    def __init__(self) -> None:
        super().__init__("the connection did not survive a snapshot restore (connections are "
                         "not part of a snapshot); open a new one")
