"""Issue 12, item 8 (previews): an app that swallows every exception cannot hold the sandbox.

The attack: a preview app that never answers and ignores the ``TimeoutError`` the host raises
(``while True: try: time.sleep(1) except BaseException: pass``). Through a real
``jupyter server`` and its preview proxy: the request is answered 504 once
``preview_request_timeout`` has passed, the guest gets the soft-then-hard stop of a cell past
its deadline, the sandbox comes back from its recovery point, and later cells run (and are
told what happened)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server.conftest import (
    Kernel,
    Server,
    running_server,
    short_temp_dir,
    start_kernel,
    stop_kernel,
)

STUBBORN_APP = """
import time
from jupyter_sandbox import serve

def stubborn(environ, start_response):
    while True:
        try:
            time.sleep(1)
        except BaseException:
            pass

serve(stubborn, port=8123)
value = 41
"""


@pytest.fixture
def server() -> Iterator[Server]:
    base = short_temp_dir()
    (base / "cfg").mkdir()
    (base / "cfg" / "jupyter_sandbox_kernel_config.json").write_text(json.dumps(
        {"SandboxKernel": {"preview_request_timeout": 2.0, "timeout_grace": 1.0}}))
    try:
        with running_server(base) as running:
            yield running
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_recovery_point(kernel: Kernel, count: int, deadline: float = 60) -> None:
    """The sandbox keeps a recovery point once idle after a cell; wait until it holds ``count``."""
    end = time.monotonic() + deadline
    with kernel.server.client() as http:
        while time.monotonic() < end:
            status = http.get(f"sandbox/api/kernels/{kernel.id}/status").json()
            if status.get("recovery_point") == count:
                return
            time.sleep(0.5)
    raise AssertionError(f"no recovery point at cell {count} within {deadline} s: {status}")


def test_stubborn_app_gets_504_and_later_cells_run(server):
    kernel = start_kernel(server)
    try:
        kernel.run(STUBBORN_APP)
        _wait_for_recovery_point(kernel, 1)
        with server.client() as http:
            response = http.get(kernel.preview_url(8123, "anything"))
        assert response.status_code == 504
        assert "did not answer within 2 s" in response.text
        outputs = kernel.run("value + 1", timeout=120)
        results = [m["content"]["data"]["text/plain"] for m in outputs
                   if m["msg_type"] == "execute_result"]
        assert results == ["42"]  # the state of cell [1], brought back from the recovery point
        notices = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
        assert "the preview request ran past its time limit of 2 s" in notices
        assert kernel.stdout("print('later cell')") == "later cell\n"
    finally:
        stop_kernel(kernel)


def test_a_request_that_answers_in_time_is_untouched(server):
    kernel = start_kernel(server)
    try:
        kernel.run("from jupyter_sandbox import serve\n"
                   "def quick(environ, start_response):\n"
                   "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                   "    return [b'quick']\n"
                   "serve(quick, port=8124)\nkept = 'yes'")
        with httpx.Client(headers={"Authorization": f"token {server.token}"}, timeout=60) as http:
            response = http.get(kernel.preview_url(8124))
        assert (response.status_code, response.text) == (200, "quick")
        assert kernel.stdout("print(kept)") == "yes\n"
    finally:
        stop_kernel(kernel)
