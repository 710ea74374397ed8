"""Credentials of previews, kept in the server's memory.

``preview_host`` mode:

The link route on the Jupyter origin checks the user's Jupyter login and issues a *one-time
token* bound to one preview (kernel + port), valid for seconds. The preview origin redeems it
for a *session*, a random id sent back as a host-only cookie and bound to the same preview. No
Jupyter credential is ever accepted on a preview origin and no preview credential on the
Jupyter origin: they live in different stores and are checked by different handlers.

Shared-origin mode: the link route answers a logged-in browser's navigation with a redirect to
a *capability* path, ``.../{port}/~{capability}/...``, a random id bound to the same preview and
living as long as a session. The sandboxed page (an opaque origin, so the browser sends it no
Jupyter cookie) reaches its own assets, API and WebSockets below that path, and nothing else.

Credentials die with the server (the user opens the link again) and when they expire; the stores
are bounded, so a flood of link openings cannot grow memory without limit.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: Most entries each store keeps; the oldest go first.
MAX_ENTRIES = 10_000
#: The shape of every credential (``secrets.token_urlsafe(32)``): 43 URL-safe characters.
CREDENTIAL_PATTERN = r"[A-Za-z0-9_-]{43}"


@dataclass(frozen=True)
class Grant:
    kernel_id: str
    port: int
    expires: float


class _Store:
    def __init__(self, lifetime: float, clock: Callable[[], float]) -> None:
        if lifetime <= 0:
            raise ValueError(f"a preview credential lifetime must be positive, got {lifetime!r}")
        self.lifetime = lifetime
        self.clock = clock
        self.entries: OrderedDict[str, Grant] = OrderedDict()

    def add(self, kernel_id: str, port: int) -> str:
        now = self.clock()
        while self.entries:
            oldest = next(iter(self.entries.values()))
            if oldest.expires > now and len(self.entries) < MAX_ENTRIES:
                break
            self.entries.popitem(last=False)
        key = secrets.token_urlsafe(32)
        self.entries[key] = Grant(kernel_id, port, now + self.lifetime)
        return key

    def valid(self, grant: Grant | None, kernel_id: str, port: int) -> bool:
        return (grant is not None and grant.kernel_id == kernel_id and grant.port == port
                and grant.expires > self.clock())


class PreviewGrants:
    """One-time link tokens and the sessions they are exchanged for."""

    def __init__(self, *, token_lifetime: float, session_lifetime: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._tokens = _Store(token_lifetime, clock)
        self._sessions = _Store(session_lifetime, clock)
        self._capabilities = _Store(session_lifetime, clock)

    @property
    def session_lifetime(self) -> float:
        return self._sessions.lifetime

    def issue_token(self, kernel_id: str, port: int) -> str:
        """A fresh one-time token for the preview of ``kernel_id`` on ``port``."""
        return self._tokens.add(kernel_id, port)

    def redeem(self, token: str, kernel_id: str, port: int) -> str | None:
        """A new session id if ``token`` is a live token of that preview, else None. The token
        is spent either way (one try)."""
        grant = self._tokens.entries.pop(token, None)
        if not self._tokens.valid(grant, kernel_id, port):
            return None
        return self._sessions.add(kernel_id, port)

    def session_allows(self, session: str, kernel_id: str, port: int) -> bool:
        """Whether ``session`` (a cookie value) is a live session of that preview."""
        return self._sessions.valid(self._sessions.entries.get(session), kernel_id, port)

    def issue_capability(self, kernel_id: str, port: int) -> str:
        """A fresh capability (shared-origin mode) for the preview of ``kernel_id`` on ``port``,
        valid for as long as a session and usable many times (every asset of the page)."""
        return self._capabilities.add(kernel_id, port)

    def capability_allows(self, capability: str, kernel_id: str, port: int) -> bool:
        """Whether ``capability`` (a path segment) is a live capability of that preview."""
        return self._capabilities.valid(self._capabilities.entries.get(capability),
                                        kernel_id, port)
