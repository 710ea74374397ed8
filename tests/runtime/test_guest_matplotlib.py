"""matplotlib figures become image/png display_data through the matplotlib-inline backend."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import stream_text

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


NOTICE = "figures are shown inline (static images) instead"


def backend(run, sandbox=None) -> str:
    _, messages = run("import matplotlib\nmatplotlib.get_backend()", sandbox)
    return messages[-1]["content"]["data"]["text/plain"]


def test_matplotlib_inline_magic(run):
    reply, messages = run("%matplotlib inline")
    assert reply.status == "ok", reply.evalue  # was NotImplementedError: Implement enable_gui
    assert messages == []
    assert backend(run) == "'inline'"
    reply, messages = run("import matplotlib.pyplot as plt\nplt.plot([3, 1])\nplt.show()")
    assert len(pngs(messages)) == 1


def test_bare_matplotlib_uses_the_inline_backend_as_stock(sandbox, run):
    """The guest's matplotlib build names Agg in its matplotlibrc; bare %matplotlib chose it
    (no figures at all) until rcParamsOrig kept the stock 'auto' choice."""
    reply, messages = run("%matplotlib", sandbox)
    assert reply.status == "ok", reply.evalue
    assert stream_text(messages) == \
        "Using matplotlib backend: module://matplotlib_inline.backend_inline\n"
    reply, messages = run("import matplotlib.pyplot as plt\nplt.plot([1, 2]);", sandbox)
    assert len(pngs(messages)) == 1


@pytest.mark.parametrize("name", ["notebook", "nbagg", "widget", "ipympl", "qt", "qt5", "tk",
                                  "gtk3", "wx", "macosx", "osx", "webagg", "TkAgg"])
def test_interactive_backends_fall_back_to_inline(run, name):
    reply, messages = run(f"%matplotlib {name}")
    assert reply.status == "ok", reply.evalue
    notice = stream_text(messages, "stderr")
    assert notice.count(NOTICE) == 1 and notice.count("\n") == 1 and repr(name) in notice
    assert stream_text(messages) == ""
    assert backend(run) == "'inline'"
    _, messages = run("import matplotlib.pyplot as plt\nplt.plot([1, 2]);")
    assert len(pngs(messages)) == 1


def test_non_interactive_backends_are_kept(run):
    reply, messages = run("%matplotlib agg")
    try:
        assert reply.status == "ok", reply.evalue
        assert messages == []
        assert backend(run) == "'agg'"
    finally:
        run("%matplotlib inline")
    assert backend(run) == "'inline'"


def test_unknown_backend_is_an_error_as_on_stock(run):
    reply, _ = run("%matplotlib no-such-backend")
    assert reply.status == "error"
    assert (reply.ename, reply.evalue) == (
        "RuntimeError", "'no-such-backend' is not a recognised GUI loop or backend name")


def test_gui_magic(run):
    reply, messages = run("%gui qt")
    assert reply.status == "ok"
    assert "no GUI event loop (qt) can run in the sandbox" in stream_text(messages, "stderr")
    reply, messages = run("%gui asyncio")
    assert reply.status == "ok" and messages == []
    _, messages = run("get_ipython().active_eventloop")
    assert messages[-1]["content"]["data"]["text/plain"] == "'asyncio'"
    reply, messages = run("%gui no-such-loop")
    assert "Invalid GUI request 'no-such-loop', valid ones are: inline" in \
        stream_text(messages, "stderr")
    run("%gui")


def test_pylab_inline(sandbox, run):
    reply, messages = run("%pylab inline", sandbox)
    assert reply.status == "ok", reply.evalue
    assert "Populating the interactive namespace from numpy and matplotlib" in \
        stream_text(messages)
    reply, messages = run("plot(linspace(0, 1, 5));", sandbox)
    assert reply.status == "ok", reply.evalue
    assert len(pngs(messages)) == 1


def test_inline_backend_config(run):
    run("%config InlineBackend.figure_format = 'retina'")
    try:
        _, messages = run("import matplotlib.pyplot as plt\nplt.plot([1, 2]);")
        [figure] = [m["content"] for m in messages if m["msg_type"] == "display_data"]
        metadata = figure["metadata"]["image/png"]
        png = base64.b64decode(figure["data"]["image/png"])
        assert int.from_bytes(png[16:20], "big") == 2 * metadata["width"]
        run("%config InlineBackend.figure_format = 'svg'")
        _, messages = run("import matplotlib.pyplot as plt\nplt.plot([1, 2]);")
        [figure] = [m["content"] for m in messages if m["msg_type"] == "display_data"]
        assert sorted(figure["data"]) == ["image/svg+xml", "text/plain"]
    finally:
        run("%config InlineBackend.figure_format = 'png'")
    _, messages = run("import matplotlib.pyplot as plt\nplt.plot([1, 2]);")
    assert len(pngs(messages)) == 1
