"""complete / inspect / is_complete requests answered by the guest shim, as ipykernel does."""

from __future__ import annotations

import re


def plain(text: str) -> str:
    """Without the ANSI colours IPython adds."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_complete_module_name_replaces_the_typed_prefix(shared_sandbox):
    reply = shared_sandbox.complete("import o", 8)
    assert reply["status"] == "ok"
    assert "os" in reply["matches"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (7, 8)


def test_complete_attribute_of_a_live_object(run, shared_sandbox):
    run("class Probe:\n    guest_attribute_one = 1\n    guest_attribute_two = 2\nprobe = Probe()")
    reply = shared_sandbox.complete("probe.guest_attr", 16)
    assert reply["matches"] == ["guest_attribute_one", "guest_attribute_two"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (6, 16)


def test_complete_uses_jedi_for_code_not_yet_run(shared_sandbox):
    """Only jedi's static inference knows ``never_run`` is a str: it was never executed."""
    code = "never_run = 'text'\nnever_run.upp"
    reply = shared_sandbox.complete(code, len(code))
    assert reply["matches"] == ["upper"]
    typed = reply["metadata"]["_jupyter_types_experimental"]
    assert typed[0]["text"] == "upper" and typed[0]["type"] == "function"


def test_complete_counts_cursor_in_code_points(run, shared_sandbox):
    run("naïve_number = 1")
    code = "é = 0; naïve_nu"
    reply = shared_sandbox.complete(code, len(code))
    assert reply["matches"] == ["naïve_number"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (7, len(code))


def test_complete_with_nothing_to_offer(shared_sandbox):
    reply = shared_sandbox.complete("zzz_no_such_name_q", 18)
    assert reply["matches"] == []
    assert reply["cursor_start"] == reply["cursor_end"] == 18


def test_inspect_builtin(shared_sandbox):
    reply = shared_sandbox.inspect("print(1)", 3)
    assert reply["status"] == "ok" and reply["found"] is True
    assert "Docstring" in reply["data"]["text/plain"]
    assert "sys.stdout" in reply["data"]["text/plain"]


def test_inspect_detail_level_one_shows_source(run, shared_sandbox):
    run("def documented_function(a):\n    'Explains itself.'\n    return a * 41")
    brief = shared_sandbox.inspect("documented_function", 5, 0)
    full = shared_sandbox.inspect("documented_function", 5, 1)
    assert "Explains itself." in plain(brief["data"]["text/plain"])
    assert "a * 41" not in plain(brief["data"]["text/plain"])
    assert "return a * 41" in plain(full["data"]["text/plain"])


def test_inspect_unknown_name_is_not_found(shared_sandbox):
    reply = shared_sandbox.inspect("no_such_thing_here", 4)
    assert reply == {"status": "ok", "found": False, "data": {}, "metadata": {}}


def test_is_complete(shared_sandbox):
    assert shared_sandbox.is_complete("x = 1") == {"status": "complete", "indent": ""}
    assert shared_sandbox.is_complete("for i in range(3):") == {"status": "incomplete",
                                                                  "indent": "    "}
    assert shared_sandbox.is_complete("1 +)")["status"] == "invalid"
