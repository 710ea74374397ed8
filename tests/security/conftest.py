"""Security tests: each one plays the attacker against a real component (a real kernel, a real
``jupyter server``, real ``%pip`` against a local index, real crafted snapshot files, a real
browser) and asserts the attack is refused with nothing touched on the host.

They are the contract of ``docs/security.md``; they run in ``make test``.
"""

from __future__ import annotations

# Real-server fixtures shared with the server tests (a session-wide ``jupyter server`` with the
# extension enabled, and a Sandboxed Python kernel started through its REST API).
from tests.server.conftest import jupyter_server, kernel, preview_host_server  # noqa: F401
