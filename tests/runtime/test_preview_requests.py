"""Listing and stopping previews are guest requests of their own (``previews_list``,
``preview_stop``), not evaluated Python strings: their replies are checked by the host, and a
guest that breaks or fakes its registry gets an error, never a silent "no previews"."""

from __future__ import annotations

import pytest

from jupyter_sandbox.runtime.errors import GuestRequestError
from jupyter_sandbox.runtime.protocol import preview_ports, preview_stopped

SERVE = ("from jupyter_sandbox import serve\n"
         "app = lambda environ, start_response: []\n"
         "serve(app, port=8001); serve(app, port=8000)\n")


def _run(sandbox, code: str) -> None:
    reply = sandbox.execute(code, lambda message: None)
    assert reply.status == "ok", reply.evalue


def test_list_and_stop_through_guest_requests(sandbox) -> None:
    assert sandbox.previews_list() == []
    _run(sandbox, SERVE)
    assert sandbox.previews_list() == [8000, 8001]
    assert sandbox.preview_stop(8001) is True
    assert sandbox.preview_stop(8001) is False
    assert sandbox.previews_list() == [8000]
    # Neither request is a cell: the execution count did not move.
    assert sandbox.execution_count == 1


def test_a_bad_port_is_an_error_not_a_false(sandbox) -> None:
    with pytest.raises(GuestRequestError, match="port must be an integer"):
        sandbox.preview_stop(0)


def test_a_broken_registry_is_reported(sandbox) -> None:
    _run(sandbox, "import jupyter_sandbox._registry as r\nr.previews = lambda: 1 / 0\n")
    with pytest.raises(GuestRequestError, match="ZeroDivisionError"):
        sandbox.previews_list()


def test_a_forged_registry_is_refused(sandbox) -> None:
    _run(sandbox, "import jupyter_sandbox._registry as r\n"
                  "class Fake:\n    port = '8000; rm -rf /'\n"
                  "r.previews = lambda: [Fake()]\n")
    with pytest.raises(GuestRequestError, match="malformed"):
        sandbox.previews_list()
    # The sandbox still works afterwards.
    _run(sandbox, "x = 1")


@pytest.mark.parametrize("reply", [
    {}, {"status": "ok"}, {"status": "ok", "ports": "8000"}, {"status": "ok", "ports": [True]},
    {"status": "ok", "ports": [0]}, {"status": "ok", "ports": [70000]},
    {"status": "error", "ename": "X", "evalue": "y"},
])
def test_preview_ports_checks_the_reply(reply) -> None:
    with pytest.raises(GuestRequestError):
        preview_ports(reply)


@pytest.mark.parametrize("reply", [
    {}, {"status": "ok"}, {"status": "ok", "stopped": "True"}, {"status": "ok", "stopped": 1},
    {"status": "error", "ename": "ValueError", "evalue": "bad port"},
])
def test_preview_stopped_checks_the_reply(reply) -> None:
    with pytest.raises(GuestRequestError):
        preview_stopped(reply)


def test_well_formed_replies() -> None:
    assert preview_ports({"status": "ok", "ports": [8001, 8000, 8000]}) == [8000, 8001]
    assert preview_stopped({"status": "ok", "stopped": True}) is True
    assert preview_stopped({"status": "ok", "stopped": False}) is False
