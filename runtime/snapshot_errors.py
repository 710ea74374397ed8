"""Why a snapshot cannot be used, saved or signed. Every error says what to do next.

A separate module so the format (``snapshot``), the layers (``snapshot_layers``), the key
(``snapshot_signing``) and the named-snapshot store share them without importing each other.
"""

from __future__ import annotations

from .errors import SandboxError

#: The command that makes a snapshot from elsewhere usable here (see ``snapshot_signing``).
IMPORT_COMMAND = "jupyter-sandbox snapshot import FILE"


class SnapshotError(SandboxError, ValueError):
    """A snapshot cannot be used; the message says why. Nothing was changed."""


class SnapshotNotTrustedError(SnapshotError):
    """The snapshot's signature does not match this installation's key: it was made by another
    installation or changed since, so it is not restored unless the user imports it."""

    def __init__(self) -> None:
        super().__init__(
            "the snapshot was not made by this jupyter-sandbox installation (or was changed "
            "after it was written): its signature does not match this installation's key, so "
            f"it is refused. If you trust the file, import it with `{IMPORT_COMMAND}` "
            "(it checks every part and signs it for this installation), then use it again.")


class SnapshotKeyError(SnapshotError, OSError):
    """The installation's snapshot key cannot be read or created."""

    def __init__(self, path: object, why: str) -> None:
        super().__init__(f"the snapshot signing key {path} cannot be used: {why}. Fix the file "
                         "(32 bytes, mode 0600, owned by you) or remove it to make a new one "
                         "(snapshots signed with the old key then need importing).")


class SnapshotBudgetError(SnapshotError):
    """Saving a named snapshot would pass the sandbox's snapshot budget (count or bytes)."""


class SnapshotTooLargeError(SnapshotError):
    """The snapshot holds more memory or files than this sandbox's limits allow (it may fit a
    sandbox with larger limits)."""
