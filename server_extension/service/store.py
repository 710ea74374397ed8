"""The service's sandbox records on disk: one SQLite database (stdlib ``sqlite3``, WAL mode,
``synchronous=FULL``) in the service's state folder, so a restarted Jupyter server lists every
sandbox it had, whether it was stopped cleanly or killed.

Each change is one transaction (a record is written whole, as JSON, or deleted), so a server
killed at any moment leaves every record as it was before or after the change, never half of
it. The schema is versioned with ``PRAGMA user_version``; a database written by a newer
jupyter-sandbox, or one SQLite cannot read, is refused with ``RegistryStoreError`` and left as
it is (the service then answers 503 saying so; notebooks are not affected).

A record's contents are not trusted on load: the registry checks each one as it would a create
request (``SandboxRegistry.load``), so a tampered row costs that sandbox only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
DATABASE_NAME = "service.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    updated REAL NOT NULL
)
"""


class RegistryStoreError(RuntimeError):
    """The service's database cannot be used; the message names the file and what to do."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"the sandbox service's database {path} cannot be used: {why}. The file was left "
            "untouched; move it aside (the service then starts with no sandboxes) or restore "
            "it from a backup, and restart the Jupyter server")
        self.path = path


class RegistryStore:
    """The ``sandboxes`` table: ``load`` them all, ``save`` or ``delete`` one. Used from the
    server's event loop thread only (the writes are small)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():  # private from the start, and so are its -wal/-shm files
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            self._db = sqlite3.connect(path, timeout=10.0)
        except sqlite3.Error as exc:
            raise RegistryStoreError(path, str(exc)) from exc
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._db.close()
            raise RegistryStoreError(path, f"SQLite cannot read it ({exc})") from exc
        except RegistryStoreError:
            self._db.close()
            raise

    def _prepare(self) -> None:
        db = self._db
        check = db.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise RegistryStoreError(self.path, f"SQLite's integrity check failed "
                                                f"({check[0] if check else 'no answer'})")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RegistryStoreError(
                self.path, f"it has schema version {version}, written by a newer "
                           f"jupyter-sandbox (this one knows version {SCHEMA_VERSION}); "
                           "upgrade jupyter-sandbox")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        with db:
            db.execute(_SCHEMA)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def load(self) -> list[tuple[str, str]]:
        """Every row as (id, the record's JSON text), in the order they were created."""
        try:
            rows = self._db.execute("SELECT id, record FROM sandboxes ORDER BY rowid").fetchall()
        except sqlite3.Error as exc:
            raise RegistryStoreError(self.path, f"reading it failed ({exc})") from exc
        return [(str(sandbox_id), str(record)) for sandbox_id, record in rows]

    def save(self, sandbox_id: str, record: dict[str, Any]) -> None:
        """Write one record whole (one transaction)."""
        with self._db:
            self._db.execute(
                "INSERT INTO sandboxes (id, record, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record, "
                "updated = excluded.updated",
                (sandbox_id, json.dumps(record, sort_keys=True), time.time()))

    def delete(self, sandbox_id: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM sandboxes WHERE id = ?", (sandbox_id,))

    def close(self) -> None:
        """Close the database (idempotent; WAL content is checkpointed into the file)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
