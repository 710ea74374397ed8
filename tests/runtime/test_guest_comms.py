"""Comms both ways between guest code (ipywidgets, ``comm``) and the front end."""

from __future__ import annotations

import base64

from tests.conftest import stream_text


def comm_messages(messages: list[dict], msg_type: str) -> list[dict]:
    return [m["content"] for m in messages if m["msg_type"] == msg_type]


def test_int_slider_opens_comms_and_follows_front_end_updates(run, shared_sandbox):
    reply, messages = run("import ipywidgets\nslider = ipywidgets.IntSlider(value=3)\n"
                          "slider.observe(lambda change: print('now', change['new']),"
                          " names='value')\nslider")
    assert reply.status == "ok"
    opened = comm_messages(messages, "comm_open")
    assert all(c["target_name"] == "jupyter.widget" for c in opened)
    model = [c for c in opened if c["data"]["state"]["_model_name"] == "IntSliderModel"]
    assert len(model) == 1 and model[0]["data"]["state"]["value"] == 3
    comm_id = model[0]["comm_id"]
    shown = [m for m in messages if m["msg_type"] == "execute_result"][0]["content"]["data"]
    assert shown["application/vnd.jupyter.widget-view+json"]["model_id"] == comm_id
    assert comm_id in shared_sandbox.comm_info("jupyter.widget")["comms"]

    callback_output: list[dict] = []
    shared_sandbox.comm_message("comm_msg", {"comm_id": comm_id, "data": {
        "method": "update", "state": {"value": 7}, "buffer_paths": []}}, callback_output.append)
    assert stream_text(callback_output) == "now 7\n"
    assert run("slider.value")[1][-1]["content"]["data"]["text/plain"] == "7"

    _, messages = run("slider.value = 9")
    updates = comm_messages(messages, "comm_msg")
    assert updates == [{"comm_id": comm_id, "data": {"method": "update", "state": {"value": 9},
                                                     "buffer_paths": []}}]


def test_widget_close_sends_comm_close(run, shared_sandbox):
    _, messages = run("import ipywidgets\nbutton = ipywidgets.Button()\n"
                      "button_id = button.comm.comm_id\nbutton.close()")
    closed = comm_messages(messages, "comm_close")
    button_id = run("button_id")[1][-1]["content"]["data"]["text/plain"].strip("'")
    assert {"comm_id": button_id, "data": {}} in closed
    assert button_id not in shared_sandbox.comm_info()["comms"]


def test_guest_comm_buffers_travel_base64(run):
    _, messages = run("import comm\nraw = comm.create_comm(target_name='raw-target', "
                      "data={'hello': 1}, buffers=[b'\\x00\\x01abc'])\n"
                      "raw.send({'more': True}, buffers=[memoryview(b'xyz')])")
    opened = comm_messages(messages, "comm_open")[0]
    assert opened["target_name"] == "raw-target" and opened["data"] == {"hello": 1}
    assert [base64.b64decode(b) for b in opened["buffers"]] == [b"\x00\x01abc"]
    sent = comm_messages(messages, "comm_msg")[0]
    assert sent["data"] == {"more": True} and "target_name" not in sent
    assert [base64.b64decode(b) for b in sent["buffers"]] == [b"xyz"]


def test_front_end_opens_messages_and_closes_a_guest_target(run, shared_sandbox):
    run("import comm\nreceived = []\n"
        "def on_open(c, msg):\n"
        "    received.append(('open', msg['content']['data']))\n"
        "    c.on_msg(lambda m: received.append(('msg', m['content']['data'], "
        "[bytes(b) for b in m['buffers']])))\n"
        "    c.on_close(lambda m: received.append(('close', m['content']['data'])))\n"
        "    c.send({'ack': True})\n"
        "comm.get_comm_manager().register_target('from-front-end', on_open)")
    out: list[dict] = []
    shared_sandbox.comm_message("comm_open", {"comm_id": "fe-1", "target_name": "from-front-end",
                                              "data": {"x": 1}}, out.append)
    assert comm_messages(out, "comm_msg") == [{"comm_id": "fe-1", "data": {"ack": True}}]
    assert shared_sandbox.comm_info("from-front-end")["comms"] == {
        "fe-1": {"target_name": "from-front-end"}}
    shared_sandbox.comm_message("comm_msg", {"comm_id": "fe-1", "data": {"y": 2}}, out.append,
                                buffers=[b"\xffbin"])
    shared_sandbox.comm_message("comm_close", {"comm_id": "fe-1", "data": {"bye": 1}}, out.append)
    result = run("received")[1][-1]["content"]["data"]["text/plain"]
    assert result == ("[('open', {'x': 1}), ('msg', {'y': 2}, [b'\\xffbin']), "
                      "('close', {'bye': 1})]")
    assert shared_sandbox.comm_info("from-front-end")["comms"] == {}


def test_comm_open_for_an_unknown_target_is_closed_again(shared_sandbox):
    out: list[dict] = []
    shared_sandbox.comm_message("comm_open", {"comm_id": "nobody", "target_name": "no-target",
                                              "data": {}}, out.append)
    assert comm_messages(out, "comm_close") == [{"comm_id": "nobody", "data": {}}]
    assert "no-target" in stream_text(out, "stderr")
    assert "nobody" not in shared_sandbox.comm_info()["comms"]
