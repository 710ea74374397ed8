"""The preview origins' credentials (one-time link tokens, sessions) and host pattern, as
pure objects with a fake clock."""

from __future__ import annotations

import re

import pytest

from jupyter_sandbox.server_extension.previews.grants import CREDENTIAL_PATTERN, PreviewGrants
from jupyter_sandbox.server_extension.previews.hosts import PreviewHostError, PreviewHosts

KERNEL = "0b7c1f5e-3a7d-4a3e-9f1e-2c4d5e6f7a8b"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_works_once_for_its_preview_and_not_after_its_lifetime():
    clock = Clock()
    grants = PreviewGrants(token_lifetime=30, session_lifetime=3600, clock=clock)
    token = grants.issue_token(KERNEL, 8000)
    assert grants.redeem(token, KERNEL, 8001) is None  # another port: refused, and spent
    assert grants.redeem(token, KERNEL, 8000) is None
    token = grants.issue_token(KERNEL, 8000)
    session = grants.redeem(token, KERNEL, 8000)
    assert session and session != token
    assert grants.redeem(token, KERNEL, 8000) is None  # one time only
    late = grants.issue_token(KERNEL, 8000)
    clock.now += 31
    assert grants.redeem(late, KERNEL, 8000) is None


def test_a_session_is_bound_to_its_preview_and_expires():
    clock = Clock()
    grants = PreviewGrants(token_lifetime=30, session_lifetime=3600, clock=clock)
    session = grants.redeem(grants.issue_token(KERNEL, 8000), KERNEL, 8000)
    assert session is not None
    assert grants.session_allows(session, KERNEL, 8000)
    assert not grants.session_allows(session, KERNEL, 8001)
    assert not grants.session_allows(session, KERNEL.replace("0b", "1b"), 8000)
    assert not grants.session_allows("forged", KERNEL, 8000)
    clock.now += 3601
    assert not grants.session_allows(session, KERNEL, 8000)


def test_a_capability_is_bound_to_its_preview_reusable_and_expires():
    clock = Clock()
    grants = PreviewGrants(token_lifetime=30, session_lifetime=3600, clock=clock)
    capability = grants.issue_capability(KERNEL, 8000)
    assert re.fullmatch(CREDENTIAL_PATTERN, capability)
    assert grants.capability_allows(capability, KERNEL, 8000)
    assert grants.capability_allows(capability, KERNEL, 8000)  # every asset of the page
    assert not grants.capability_allows(capability, KERNEL, 8001)
    assert not grants.capability_allows(capability, KERNEL.replace("0b", "1b"), 8000)
    assert not grants.capability_allows("forged", KERNEL, 8000)
    # Not a session, not a token: the stores are separate.
    assert not grants.session_allows(capability, KERNEL, 8000)
    assert grants.redeem(capability, KERNEL, 8000) is None
    assert grants.capability_allows(capability, KERNEL, 8000)
    other = grants.issue_capability(KERNEL, 8000)
    assert other != capability
    clock.now += 3599
    assert grants.capability_allows(capability, KERNEL, 8000)
    clock.now += 2
    assert not grants.capability_allows(capability, KERNEL, 8000)


def test_lifetimes_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        PreviewGrants(token_lifetime=0, session_lifetime=1)


def test_host_pattern():
    hosts = PreviewHosts("{port}-{kernel}.localhost")
    assert hosts.host(KERNEL, 8000) == f"8000-{KERNEL}.localhost"
    found = hosts.target(f"8000-{KERNEL}.localhost")
    assert found is not None and (found.kernel_id, found.port) == (KERNEL, 8000)
    assert hosts.target(f"8000-{KERNEL}.localhost.evil.example") is None
    assert hosts.target(f"x8000-{KERNEL}.localhost") is None
    assert hosts.target(f"70000-{KERNEL}.localhost") is None
    assert hosts.target("127.0.0.1") is None
    deep = PreviewHosts("{port}-{kernel}.preview.example.com")
    assert deep.target(f"1-{KERNEL}.previewXexample.com") is None  # dots are literal


@pytest.mark.parametrize("pattern", ["{port}.localhost", "{kernel}.localhost",
                                     "{port}-{kernel}", "https://{port}-{kernel}.localhost",
                                     "{port}-{kernel}.localhost:8888", "{port}{port}-{kernel}.x.y"])
def test_unusable_host_patterns_are_refused_with_the_fix(pattern):
    with pytest.raises(PreviewHostError, match="e.g."):
        PreviewHosts(pattern)
