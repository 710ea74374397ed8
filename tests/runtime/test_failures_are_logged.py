"""Failures the runtime survives on purpose are logged, never swallowed silently: an unreadable
WHEEL file during the pure-wheel check, and a consumer that cannot take a sandbox's messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jupyter_sandbox.runtime import packages
from jupyter_sandbox.runtime.errors import PackageError
from jupyter_sandbox.runtime.protocol import Message
from jupyter_sandbox.runtime.sandbox.output import Operation


def test_an_unreadable_wheel_file_is_logged(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    dist_info = tmp_path / "demo-1.0.dist-info"
    dist_info.mkdir()
    with caplog.at_level(logging.WARNING, logger="jupyter_sandbox.packages"):
        packages._check_pure(dist_info, "demo")  # no WHEEL file: left to pip's own selection
    assert "WHEEL file of demo" in caplog.text


def test_a_compiled_wheel_is_still_refused(tmp_path: Path) -> None:
    dist_info = tmp_path / "demo-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n")
    with pytest.raises(PackageError):
        packages._check_pure(dist_info, "demo")


def test_a_failing_consumer_is_logged_once_with_its_exception_then_at_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(_message: Message) -> None:
        raise RuntimeError("the front end went away")

    cell = Operation(on_message=broken, output_limit=1 << 20)
    with caplog.at_level(logging.DEBUG, logger="jupyter_sandbox.sandbox.output"):
        cell.say("one")
        cell.say("two")
    records = [r for r in caplog.records if r.name == "jupyter_sandbox.sandbox.output"]
    assert [r.levelno for r in records] == [logging.ERROR, logging.DEBUG]
    assert all(r.exc_info and "went away" in str(r.exc_info[1]) for r in records)
