"""A sandbox's first process when the machine has no base image yet (after a change of the
guest's code, or a sandbox that did not write one): the process table builds the image
(base_image.load_or_build) instead of refusing, so a fresh machine's first ``!python -c``
works. Only the base image is isolated (its path points into an empty folder); the compiled
module stays in the shared cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_sandbox.runtime import base_image
from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.errors import ProcessError
from jupyter_sandbox.runtime.sandbox import Sandbox
from jupyter_sandbox.runtime.sandbox.start import StartSource
from tests.conftest import stream_text

TIMEOUT = 120


@pytest.fixture
def empty_image(tmp_path, monkeypatch) -> Iterator[Path]:
    """The base image's path in an empty folder, and none loaded in this process."""
    path = tmp_path / "cache" / "base-image.snap"
    path.parent.mkdir()
    monkeypatch.setattr(base_image, "image_path", lambda: path)
    monkeypatch.setattr(base_image, "_loaded", None)
    yield path


def test_first_process_of_a_sandbox_that_wrote_no_base_image(empty_image, tmp_path):
    # its own environment: it boots and, by design, saves no base image
    config = SandboxConfig(env={"FROM_TEST": "1"}, state_dir=tmp_path / "state")
    with Sandbox(config) as sandbox:
        assert sandbox.started_from is StartSource.BOOT
        assert not empty_image.exists()
        handle = sandbox.processes.start(["python", "-c", "print(6 * 7)"])
        assert handle.wait(TIMEOUT) == 0
        assert b"".join(c.data for c in handle.read_output(0)) == b"42\n"
        assert empty_image.is_file()  # built for it, for every later sandbox too
        messages: list[dict] = []
        reply = sandbox.execute("!python -c 'print(1 + 1)'", messages.append)
        assert reply.status == "ok" and stream_text(messages) == "2\n"
    with Sandbox(SandboxConfig(state_dir=tmp_path / "state2")) as later:
        assert later.started_from is StartSource.BASE_IMAGE


def test_a_sandbox_started_without_the_base_image(empty_image, tmp_path):
    with Sandbox(SandboxConfig(state_dir=tmp_path / "state"), use_base_image=False) as sandbox:
        messages: list[dict] = []
        reply = sandbox.execute("import subprocess, sys\n"
                                "print(subprocess.run([sys.executable, '-c', 'print(1)'], "
                                "capture_output=True).stdout)", messages.append)
        assert reply.status == "ok", reply.traceback
        assert stream_text(messages) == "b'1\\n'\n"
    assert empty_image.is_file()


def test_no_signing_key_still_refuses_with_a_clear_error(empty_image, tmp_path, monkeypatch):
    with Sandbox(SandboxConfig(state_dir=tmp_path / "state"), use_base_image=False) as sandbox:
        monkeypatch.setattr(base_image, "key", lambda: None)
        with pytest.raises(ProcessError, match="without the machine's base image") as caught:
            sandbox.processes.start(["python", "-c", "pass"])
        assert "signing key" in str(caught.value)
    assert not empty_image.exists()
