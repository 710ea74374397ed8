"""The host↔guest protocol's TypedDicts say what really goes over ``_host.call``: every request
a sandbox sends has exactly the keys of its type, the cleaned messages and execute replies have
exactly theirs, and the stop reason reaches the guest as the strings its SIGINT handler reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_sandbox.runtime import protocol
from jupyter_sandbox.runtime.protocol import StopReason
from jupyter_sandbox.runtime.sandbox import Sandbox, StartSource

#: The request type each ``"type"`` names.
REQUEST_TYPES: dict[str, Any] = {
    "execute": protocol.ExecuteRequest, "complete": protocol.CompleteRequest,
    "inspect": protocol.InspectRequest, "is_complete": protocol.IsCompleteRequest,
    "history": protocol.HistoryRequest, "comm": protocol.CommRequest,
    "comm_info": protocol.CommInfoRequest, "boot": protocol.StartRequest,
    "configure": protocol.StartRequest, "after_restore": protocol.AfterRestoreRequest,
    "previews_list": protocol.PreviewsListRequest, "preview_stop": protocol.PreviewStopRequest,
}


def _keys_fit(request: dict[str, Any], kind: Any) -> bool:
    keys = set(request)
    return kind.__required_keys__ <= keys <= kind.__required_keys__ | kind.__optional_keys__


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every request a sandbox hands to the guest, as the guest receives it (JSON)."""
    sent: list[dict[str, Any]] = []
    real = Sandbox._operate

    def operate(self: Sandbox, request: Any, cell: Any) -> Any:
        sent.append(json.loads(protocol.encode(request)))
        return real(self, request, cell)

    monkeypatch.setattr(Sandbox, "_operate", operate)
    return sent


def test_every_request_has_exactly_the_keys_of_its_type(recorded) -> None:
    with Sandbox() as sandbox:
        assert sandbox.execute("x = 1").status == "ok"
        sandbox.complete("x.re", 4)
        sandbox.inspect("x", 1)
        sandbox.is_complete("for i in x:")
        sandbox.history({"hist_access_type": "tail", "output": False, "raw": True,
                         "session": None, "start": None, "stop": None, "n": 5,
                         "pattern": None, "unique": False})
        sandbox.comm_info()
        sandbox.comm_message("comm_open", {"comm_id": "c1", "target_name": "nobody",
                                           "data": {}}, lambda _m: None)
        sandbox.previews_list()
        sandbox.preview_stop(8000)
        sandbox.restore(sandbox.snapshot())  # an after_restore request
    kinds = [request["type"] for request in recorded]
    for expected in ("execute", "complete", "inspect", "is_complete", "history", "comm_info",
                     "comm", "previews_list", "preview_stop", "after_restore"):
        assert expected in kinds
    for request in recorded:
        kind = REQUEST_TYPES[request["type"]]
        assert _keys_fit(request, kind), (request["type"], sorted(request))


def test_a_started_sandbox_says_how_as_an_enum_equal_to_its_old_strings() -> None:
    with Sandbox() as sandbox:
        assert isinstance(sandbox.started_from, StartSource)
        assert sandbox.started_from in ("base-image", "boot")


def test_cleaned_messages_and_execute_replies_have_exactly_their_types_keys() -> None:
    message = protocol.clean_message("stream", {"name": "stdout", "text": "hi", "extra": 1},
                                     None)
    assert set(message) == protocol.Message.__required_keys__
    assert message["content"] == {"name": "stdout", "text": "hi"}
    reply = protocol.clean_execute_reply({"status": "weird", "ename": 3, "payload": "no"}, 7)
    assert set(reply) == protocol.ExecuteReplyContent.__required_keys__
    assert reply["status"] == "error" and reply["execution_count"] == 7
    assert reply["ename"] == "SandboxError" and reply["payload"] == []


@pytest.mark.parametrize("reason", list(StopReason))
def test_stop_reasons_reach_the_guest_as_the_strings_it_reads(reason: StopReason) -> None:
    # runtime/guest/jupyter_sandbox_guest/environment.py compares the reply to these strings.
    answer: protocol.InterruptReasonAnswer = {"reason": reason}
    assert json.loads(protocol.encode(answer)) == {"reason": reason.value}
    assert reason.value in ("none", "interrupt", "timeout")
