"""The guest shell looks like ipykernel's to libraries that probe for a Jupyter front end
(runtime/guest/jupyter_sandbox_guest/frontend.py)."""

from __future__ import annotations

from tests.conftest import stream_text


def result(run, code: str) -> str:
    reply, messages = run(code)
    assert reply.status == "ok", reply.evalue
    return messages[-1]["content"]["data"]["text/plain"]


def test_shell_is_named_and_placed_like_ipykernels(run):
    assert result(run, "type(get_ipython()).__name__") == "'ZMQInteractiveShell'"
    assert result(run, "str(type(get_ipython()))") == \
        "\"<class 'ipykernel.zmqshell.ZMQInteractiveShell'>\""
    assert result(run, "from ipykernel.zmqshell import ZMQInteractiveShell\n"
                       "isinstance(get_ipython(), ZMQInteractiveShell)") == "True"
    assert result(run, "'IPKernelApp' in get_ipython().config") == "True"


def test_ipykernel_itself_is_still_absent(run):
    reply, _ = run("import ipykernel")
    assert (reply.status, reply.ename) == ("error", "ModuleNotFoundError")


def test_kernel_stand_in(run):
    assert result(run, "k = get_ipython().kernel\n"
                       "(k.implementation, k.shell is get_ipython(), k.get_parent(),"
                       " k.language_info['name'])") == "('jupyter-sandbox', True, {}, 'python')"
    assert result(run, "import comm\nk.comm_manager is comm.get_comm_manager()") == "True"


def test_pandas_sees_a_frontend(run):
    assert result(run, "from pandas.io.formats.console import in_ipython_frontend\n"
                       "in_ipython_frontend()") == "True"
    # the notebook default (20), not the terminal's 0 that truncates to the terminal width
    assert result(run, "import pandas as pd\npd.get_option('display.max_columns')") == "20"


def test_tqdm_auto_picks_the_notebook_bar_without_warnings(run):
    reply, messages = run("import tqdm.auto\nfor _ in tqdm.auto.tqdm(range(3)):\n    pass")
    assert reply.status == "ok", reply.evalue
    assert stream_text(messages, "stderr") == ""  # no TqdmMonitorWarning (no threads)
    views = [m for m in messages if m["msg_type"] == "display_data"
             and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]]
    assert len(views) == 1
    assert result(run, "tqdm.auto.tqdm.__mro__[1].__name__") == "'tqdm_notebook'"


def test_output_widget_context_works_with_the_kernel(run):
    reply, _ = run("import ipywidgets\nout = ipywidgets.Output()\nwith out:\n    print('x')")
    assert reply.status == "ok", reply.evalue
