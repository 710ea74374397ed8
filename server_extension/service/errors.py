"""The sandbox service's error: an HTTP status, a message that says what went wrong, a short
code (by default the status's, ``control_protocol.ERROR_CODES``) and a hint, sent as the one
envelope of ``control_protocol.ErrorBody``."""

from __future__ import annotations

from ..errors import APIError


class ServiceError(APIError):
    """An error answer of the sandbox service (see ``errors.APIError``)."""
