"""Waiting on a condition with a deadline (the tests never sleep a fixed time): one helper for
every test module that polls something the sandbox, a server or a thread does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 60.0,
             interval: float = 0.02) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns something true and return
    that; fail (``AssertionError`` naming ``what``) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
