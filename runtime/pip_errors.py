"""Re-exports the ``%pip`` exception and refusal text, which live in ``errors``."""

from __future__ import annotations

from .errors import COMPILED_REFUSAL, PackageError

__all__ = ["COMPILED_REFUSAL", "PackageError"]
