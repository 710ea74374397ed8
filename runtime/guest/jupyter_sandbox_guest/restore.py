"""Requests that follow a snapshot restore: fresh randomness, and this sandbox's own settings."""

from __future__ import annotations

import os
import random
import sys
from typing import Any


def after_restore(request: dict[str, Any]) -> dict[str, Any]:
    """Reseed every random stream from host entropy, so copies of one snapshot (forks, every
    kernel started from the base image) never draw the same numbers; take the restoring
    sandbox's environment (its kernel id and preview URL, say)."""
    os.environ.update(request.get("env") or {})
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    return {"status": "ok"}


def configure(request: dict[str, Any], shell: Any) -> dict[str, Any]:
    """Apply the settings of the sandbox that restored a shared image (the base image)."""
    os.environ.update(request.get("env") or {})
    os.chdir(request.get("cwd") or os.getcwd())
    if "execution_count" in request:
        shell.execution_count = int(request["execution_count"]) + 1
    return {"status": "ok"}
