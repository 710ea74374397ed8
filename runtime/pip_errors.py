"""The exception every ``%pip`` refusal or failure raises, and the refusal texts tests pin.

Kept apart so the modules of ``%pip`` (argument parsing, the host pip process, the site layer)
can all raise it without importing each other.
"""

from __future__ import annotations

from .errors import SandboxError

#: The exact refusal for packages that only exist as compiled wheels or sdists.
COMPILED_REFUSAL = "contains compiled code; the sandbox can only add pure-Python packages"


class PackageError(SandboxError, ValueError):
    """``%pip`` refused or failed; the message says why and is shown to the user as is."""
