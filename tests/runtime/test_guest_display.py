"""IPython features whose messages must look as they do under ipykernel."""

from __future__ import annotations

import base64
import re

from tests.conftest import stream_text

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
                       "WjR9awAAAABJRU5ErkJggg==")


def of_type(messages: list[dict], msg_type: str) -> list[dict]:
    return [m["content"] for m in messages if m["msg_type"] == msg_type]


def test_who_lists_user_variables(sandbox):
    messages: list[dict] = []
    sandbox.execute("alpha = 1\nbeta = 'b'\ndef gamma(): pass", messages.append)
    sandbox.execute("%who", messages.append)
    sandbox.execute("%who int", messages.append)
    assert stream_text(messages) == "alpha\t beta\t gamma\t \nalpha\t \n"


def test_time_cell_magic(run):
    reply, messages = run("%%time\ntotal = sum(range(1000))\ntotal")
    assert reply.status == "ok"
    text = stream_text(messages)
    assert text.startswith("CPU times: user ") and "\nWall time: " in text
    assert of_type(messages, "execute_result")[0]["data"]["text/plain"] == "499500"


def test_display_of_rich_reprs(run):
    reply, messages = run(
        "import base64\n"
        f"PNG = {PNG!r}\n"
        "class Rich:\n"
        "    def _repr_html_(self): return '<b>rich</b>'\n"
        "    def __repr__(self): return 'Rich()'\n"
        "class Picture:\n"
        "    def _repr_png_(self): return PNG\n"
        "display(Rich(), Picture())\nRich()")
    assert reply.status == "ok"
    shown = of_type(messages, "display_data")
    assert shown[0]["data"] == {"text/plain": "Rich()", "text/html": "<b>rich</b>"}
    assert base64.b64decode(shown[1]["data"]["image/png"]) == PNG
    assert shown[0]["transient"] == {} and shown[0]["metadata"] == {}
    result = of_type(messages, "execute_result")[0]
    assert result["data"] == {"text/plain": "Rich()", "text/html": "<b>rich</b>"}
    assert result["execution_count"] == reply.execution_count


def test_update_display_and_clear_output(run):
    reply, messages = run(
        "from IPython.display import display, update_display, clear_output\n"
        "handle = display('one', display_id='progress')\n"
        "update_display('two', display_id='progress')\n"
        "handle.update('three')\n"
        "clear_output(wait=True)\nclear_output()")
    assert reply.status == "ok"
    assert [(m["msg_type"], m["content"]) for m in messages] == [
        ("display_data", {"data": {"text/plain": "'one'"}, "metadata": {},
                          "transient": {"display_id": "progress"}}),
        ("update_display_data", {"data": {"text/plain": "'two'"}, "metadata": {},
                                 "transient": {"display_id": "progress"}}),
        ("update_display_data", {"data": {"text/plain": "'three'"}, "metadata": {},
                                 "transient": {"display_id": "progress"}}),
        ("clear_output", {"wait": True}),
        ("clear_output", {"wait": False}),
    ]


def test_display_flushes_earlier_prints_first(run):
    reply, messages = run("print('before')\ndisplay('shown')\nprint('after')")
    assert reply.status == "ok"
    assert [(m["msg_type"], m["content"].get("text") or m["content"]["data"]["text/plain"])
            for m in messages] == [("stream", "before\n"), ("display_data", "'shown'"),
                                   ("stream", "after\n")]


def test_syntax_error_is_an_error_reply(run):
    first, _ = run("1")
    reply, messages = run("def broken(:\n    pass")
    assert reply.status == "error"
    assert reply.ename == "SyntaxError"
    assert reply.execution_count == first.execution_count + 1
    errors = of_type(messages, "error")
    assert len(errors) == 1 and errors[0]["ename"] == "SyntaxError"
    assert reply.traceback == errors[0]["traceback"]
    assert "SyntaxError" in errors[0]["traceback"][-1]
    after, _ = run("2")
    assert after.status == "ok" and after.execution_count == reply.execution_count + 1


def test_runtime_error_traceback_is_rendered_by_ipython(run):
    reply, messages = run("def inner():\n    raise ValueError('bad value')\ninner()")
    assert reply.status == "error" and reply.ename == "ValueError" and reply.evalue == "bad value"
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(of_type(messages, "error")[0]["traceback"]))
    assert "inner()" in text and "Traceback (most recent call last)" in text
    assert "Unexpected exception formatting exception" not in stream_text(messages, "stderr")


def test_help_goes_to_the_page_payload(run):
    """``obj?`` fills the execute reply's payload (the pager) instead of printing, as ipykernel."""
    reply, messages = run("get_ipython().run_line_magic('pinfo', 'len')\n"
                          "[p['source'] for p in get_ipython().payload_manager.read_payload()]")
    assert reply.status == "ok"
    assert stream_text(messages) == ""
    assert of_type(messages, "execute_result")[0]["data"]["text/plain"] == "['page']"
