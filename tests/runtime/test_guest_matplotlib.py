"""matplotlib figures become image/png display_data through the matplotlib-inline backend."""

from __future__ import annotations

import base64

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def pngs(messages: list[dict]) -> list[bytes]:
    return [base64.b64decode(m["content"]["data"]["image/png"]) for m in messages
            if m["msg_type"] == "display_data" and "image/png" in m["content"]["data"]]


def test_show_and_figure_left_at_cell_end(run):
    reply, messages = run("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    assert reply.status == "ok", reply.evalue
    shown = pngs(messages)
    assert len(shown) == 1 and shown[0].startswith(PNG_MAGIC)
    text = [m["content"]["data"]["text/plain"] for m in messages if m["msg_type"] == "display_data"]
    assert text == ["<Figure size 640x480 with 1 Axes>"]

    reply, messages = run("fig, ax = plt.subplots()\nax.bar(['a', 'b'], [3, 4]);")
    assert reply.status == "ok"
    assert len(pngs(messages)) == 1

    reply, messages = run("len(plt.get_fignums())")
    assert pngs(messages) == []
    assert messages[-1]["content"]["data"]["text/plain"] == "0"


def test_backend_is_inline(run):
    _, messages = run("import matplotlib\nmatplotlib.get_backend()")
    assert messages[-1]["content"]["data"]["text/plain"] in (
        "'inline'", "'module://matplotlib_inline.backend_inline'")
