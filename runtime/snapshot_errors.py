"""Re-exports the snapshot exceptions, which live in ``errors`` with the runtime's others."""

from __future__ import annotations

from .errors import (
    IMPORT_COMMAND,
    SnapshotBudgetError,
    SnapshotError,
    SnapshotKeyError,
    SnapshotNotTrustedError,
    SnapshotTooLargeError,
)

__all__ = ["IMPORT_COMMAND", "SnapshotBudgetError", "SnapshotError", "SnapshotKeyError",
           "SnapshotNotTrustedError", "SnapshotTooLargeError"]
