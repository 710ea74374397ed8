"""The service's idle reaper and sandbox processes, through a real ``jupyter server``: a sandbox
whose background process is running counts as in use (stopping it would snapshot it and kill
the process), so its ``idle_timeout`` starts over while the process runs; once the process
ends, the sandbox is stopped for being idle as before."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_sandbox.client import SandboxClient, SandboxServiceError
from tests import waiting

from .conftest import temporary_server

WAIT = 120.0
IDLE = 2

#: Prints a line, then waits for its stdin to close (an endless runner the test can end).
RUNNER = ("import sys\n"
          "print('running', flush=True)\n"
          "sys.stdin.read()\n"
          "print('done', flush=True)\n")


#: Polls the service over HTTP, so less often than the default, and up to WAIT.
wait_for = functools.partial(waiting.wait_for, timeout=WAIT, interval=0.2)


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    for server in temporary_server(idle_timeout=0, checkpoint_idle_seconds=0):
        with SandboxClient(server.url, server.token) as sandbox_client:
            yield sandbox_client


def start_runner(sandbox: Any) -> Any:
    """The runner started through the commands API (retried while the machine's base image is
    being written by the first sandbox after a guest change)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return sandbox.commands.start(["python", "-c", RUNNER])
        except SandboxServiceError as exc:
            if "base image" not in exc.message or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_running_background_process_keeps_an_idle_sandbox_running(
        client: SandboxClient) -> None:
    with client.create_sandbox(idle_timeout=IDLE) as sandbox:
        handle = start_runner(sandbox)
        wait_for(lambda: handle.refresh().running, "the runner to start")
        started = sandbox.refresh()["last_activity"]
        # Without the process the reaper stops it IDLE seconds after its last use; with it,
        # the reaper finds it in use and its idle time starts over (last_activity moves on,
        # GET does not count as use) while it stays running.
        def kept_or_stopped() -> dict[str, Any] | None:
            info = sandbox.refresh()
            moved_on = info["last_activity"] > started + IDLE
            return info if moved_on or info["state"] != "running" else None

        info = wait_for(kept_or_stopped, "the reaper to find the sandbox in use")
        assert info["state"] == "running" and info["stopped_reason"] is None
        assert handle.refresh().running
        handle.close_stdin()
        result = handle.wait(WAIT)
        assert (result.exit_code, result.stdout) == (0, "running\ndone\n")
        wait_for(lambda: sandbox.refresh()["state"] == "stopped", "the idle stop")
        assert sandbox.info["stopped_reason"] == "idle"
