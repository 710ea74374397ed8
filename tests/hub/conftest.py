"""Fixtures of the JupyterHub tests: one real hub per test session (see ``hub.py``), and a
logged-in browser session for alice and for bob whose single-user server runs.

A test that stops a user's server (the idle-culling test does) leaves it stopped; the
``alice``/``bob`` fixtures start it again when they are next used."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .hub import Hub, UserSession, hub_base, running_hub


@pytest.fixture(scope="session")
def hub() -> Iterator[Hub]:
    with hub_base() as base, running_hub(base) as running:
        yield running


def logged_in(hub: Hub, user: str) -> Iterator[UserSession]:
    """``user`` logged in to the hub, their server running and opened (OAuth done)."""
    hub.start_server(user)
    with hub.login(user) as session:
        opened = session.open_server()
        assert opened.status_code == 200, (opened.status_code, opened.text[:500])
        yield session


@pytest.fixture
def alice(hub: Hub) -> Iterator[UserSession]:
    yield from logged_in(hub, "alice")


@pytest.fixture
def bob(hub: Hub) -> Iterator[UserSession]:
    yield from logged_in(hub, "bob")
