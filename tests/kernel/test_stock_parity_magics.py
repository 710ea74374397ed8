"""IPython's everyday magics and local imports under Sandboxed Python, compared with the stock
``python3`` kernel (issue 18, item 2).

Each test runs the same cells under both kernels through nbclient, with the same data files in
each kernel's own notebook folder, and compares per cell: no error on either, the same output
types and MIME types, and the same text once what depends on the machine is normalized (the
notebook folder's host path, which the sandbox shows as ``/workspace``, and timing figures).
What a kernel sends in the execute reply's payload (``%load``'s ``set_next_input``, the
pager text of ``%prun``) is compared too, as a front end receives it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.kernel.stock_parity import SANDBOX, STOCK, CellResult, parity_folders, run_both

WORKSPACE = "/workspace"

#: A time as IPython prints it: "13.1 μs", "1.02 s", "0 ns", "1e+03 ns", "2min 3s".
TIME = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?\s?(?:ns|μs|us|ms|s|min|h)\b")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ERRNO = re.compile(r"\[Errno \d+\]")
ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


@pytest.fixture(autouse=True)
def _own_ipython_dir(tmp_path, monkeypatch):
    """The stock kernel keeps %store values and history under IPYTHONDIR: a fresh one per
    test, so no run depends on (or writes to) the machine's ~/.ipython."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))


def both(tmp_path: Path, cells: Sequence[str],
         files: dict[str, str] | None = None) -> list[tuple[CellResult, CellResult]]:
    stock, sandbox = parity_folders(tmp_path, files)
    pairs = run_both(cells, stock, sandbox)
    return [(_at_workspace(s, stock), b) for s, b in pairs]


def _at_workspace(result: CellResult, folder: Path) -> CellResult:
    """The stock kernel's outputs with the notebook folder's host path shown as the
    sandbox shows it."""
    real = str(folder.resolve())

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(real, WORKSPACE).replace(str(folder), WORKSPACE)
        if isinstance(value, list):
            return [fix(item) for item in value]
        if isinstance(value, dict):
            return nbformat.from_dict({key: fix(item) for key, item in value.items()})
        return value

    return CellResult(result.source, [fix(output) for output in result.outputs])


def shape(result: CellResult) -> list[str]:
    """Output types in order, a stream by its name, consecutive chunks of one stream counted
    once (how a kernel batches a stream into messages depends on timing)."""
    kinds: list[str] = []
    for output in result.outputs:
        kind = (f"stream:{output.name}" if output.output_type == "stream"
                else output.output_type)
        if not (kind.startswith("stream:") and kinds and kinds[-1] == kind):
            kinds.append(kind)
    return kinds


#: IPython's %timeit adds this line when one run took far longer than the fastest, which a
#: loaded machine causes on either kernel at random.
SLOW_RUN_WARNING = re.compile(r"^The slowest run took .*\n", re.MULTILINE)


def untimed(text: str | None) -> str:
    return TIME.sub("T", SLOW_RUN_WARNING.sub("", text or ""))


def assert_same_kinds(pairs: list[tuple[CellResult, CellResult]]) -> None:
    """No error on either kernel; the same output types and MIME types, cell by cell."""
    for stock, sandboxed in pairs:
        assert stock.errors == [], (stock.source, stock.errors)
        assert sandboxed.errors == [], (sandboxed.source, sandboxed.errors)
        assert shape(sandboxed) == shape(stock), sandboxed.source
        assert sandboxed.mime_types == stock.mime_types, sandboxed.source


def assert_same(pairs: list[tuple[CellResult, CellResult]]) -> None:
    """As ``assert_same_kinds``, and the same stdout, stderr and result text."""
    assert_same_kinds(pairs)
    for stock, sandboxed in pairs:
        assert sandboxed.stdout == stock.stdout, sandboxed.source
        assert sandboxed.stderr == stock.stderr, sandboxed.source
        assert sandboxed.result == stock.result, sandboxed.source


def replies(kernel: str, cells: Sequence[str], folder: Path) -> list[dict[str, Any]]:
    """Each cell's execute_reply content, through nbclient as ``run_cells`` runs them."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    got: list[dict[str, Any]] = []

    def keep(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        got.append(execute_reply["content"])

    client = NotebookClient(notebook, kernel_name=kernel, timeout=180, allow_errors=True,
                            on_cell_executed=keep,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    return got


def both_replies(tmp_path: Path, cells: Sequence[str],
                 files: dict[str, str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    stock, sandbox = parity_folders(tmp_path, files)
    return list(zip(replies(STOCK, cells, stock), replies(SANDBOX, cells, sandbox),
                    strict=True))


# --- local imports --------------------------------------------------------------------------

def test_modules_beside_the_notebook_import_as_on_the_stock_kernel(tmp_path):
    files = {"helper.py": "X = 41\n", "sub/inner.py": "Y = 2\n",
             "json.py": "raise RuntimeError('a file beside the notebook shadowed json')\n"}
    pairs = both(tmp_path, [
        "import helper\nhelper.X + 1",
        "%%writefile mymodule.py\nVALUE = 'written by a cell'\n",
        "import mymodule\nmymodule.VALUE",
        "with open('other.py', 'w') as f:\n    f.write('V = 3\\n')",
        "import other\nother.V",
        "with open('same_cell.py', 'w') as f:\n    f.write('S = 4\\n')\n"
        "import same_cell\nsame_cell.S",
        "with open('mymodule.py', 'w') as f:\n    f.write('VALUE = \"rewritten\"\\n')\n"
        "import importlib\nimportlib.reload(mymodule).VALUE",
        "import json\njson.dumps([1])",
        "import sys\n'' in sys.path",
        "import pkg\npkg.NAME",
        "%%writefile pkg/extra.py\nE = 'added to the package'\n",
        "from pkg import extra\nextra.E",
    ], {**files, "pkg/__init__.py": "NAME = 'pkg'\n"})
    assert_same(pairs)
    assert [sandboxed.result for _, sandboxed in pairs] == [
        "42", None, "'written by a cell'", None, "3", "4", "'rewritten'", "'[1]'", "True",
        "'pkg'", None, "'added to the package'"]


def test_cd_to_another_folder_then_import_from_it(tmp_path):
    pairs = both(tmp_path, [
        "%cd sub",
        "import inner\ninner.Y",
        "%cd ..",
        "import os\nos.getcwd()",
    ], {"sub/inner.py": "Y = 2\n"})
    assert_same(pairs)
    assert pairs[0][1].stdout == "/workspace/sub\n"
    assert pairs[1][1].result == "2"
    assert pairs[3][1].result == "'/workspace'"


def test_autoreload_picks_up_an_edited_local_module(tmp_path):
    pairs = both(tmp_path, [
        "%load_ext autoreload\n%autoreload 2",
        "import tool\ntool.answer()",
        "with open('tool.py', 'w') as f:\n    f.write('def answer():\\n    return \"edited\"\\n')",
        "tool.answer()",
    ], {"tool.py": "def answer():\n    return 'first'\n"})
    assert_same(pairs)
    assert [sandboxed.result for _, sandboxed in pairs] == [None, "'first'", None, "'edited'"]


# --- %run -----------------------------------------------------------------------------------

SCRIPT = ("import sys\n"
          "print('args', sys.argv[1:])\n"
          "print('sees y:', 'y' in dir(), 'name:', __name__)\n"
          "z = 5\n")


def test_run_script_with_args_and_interactive(tmp_path):
    pairs = both(tmp_path, [
        "y = 1\n%run script.py one 'two words'",
        "z",
        "%run -i script.py three",
        "%run -m helper",
        "%run -n script.py",
    ], {"script.py": SCRIPT, "helper.py": "print('helper ran as', __name__)\n"})
    assert_same(pairs)
    assert pairs[0][1].stdout == "args ['one', 'two words']\nsees y: False name: __main__\n"
    assert pairs[1][1].result == "5"
    assert pairs[2][1].stdout == "args ['three']\nsees y: True name: __main__\n"
    assert pairs[3][1].stdout == "helper ran as __main__\n"
    assert pairs[4][1].stdout == "args []\nsees y: False name: script\n"


def test_run_with_timing(tmp_path):
    pairs = both(tmp_path, ["%run -t script.py"], {"script.py": SCRIPT})
    assert_same_kinds(pairs)
    (stock, sandboxed), = pairs
    assert untimed(sandboxed.stdout) == untimed(stock.stdout)
    assert "IPython CPU timings (estimated):" in sandboxed.stdout


def _notebook(*cells: nbformat.NotebookNode) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = list(cells)
    return nbformat.writes(notebook)


#: An nbformat 3 notebook, as older teaching material still ships (worksheets, ``input``).
NOTEBOOK_V3 = json.dumps({
    "nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
    "worksheets": [{"metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# old"]},
        {"cell_type": "code", "collapsed": False, "input": ["old = 'v3'\n", "print(old)"],
         "language": "python", "metadata": {}, "outputs": [], "prompt_number": 1}]}]})


def test_run_a_notebook_and_an_ipy_file(tmp_path):
    """``%run helpers.ipynb`` runs the notebook's code cells in this namespace (the guest has
    no nbformat: it reads the JSON itself); an .ipy file may use magics."""
    helpers = _notebook(nbformat.v4.new_markdown_cell("# Helpers"),
                        nbformat.v4.new_code_cell("shared = 'from the notebook'\n"
                                                  "print('helpers ran')"),
                        nbformat.v4.new_code_cell("def double(x):\n    return 2 * x"))
    failing = _notebook(nbformat.v4.new_code_cell("print('first')"),
                        nbformat.v4.new_code_cell("1/0"),
                        nbformat.v4.new_code_cell("print('never')"))
    pairs = both(tmp_path, [
        "%run helpers.ipynb",
        "shared, double(21)",
        "%run sub/old.ipynb",
        "%run tool.ipy",
    ], {"helpers.ipynb": helpers, "sub/old.ipynb": NOTEBOOK_V3,
        "tool.ipy": "%env FROM_IPY=1\nimport os\nprint(os.environ['FROM_IPY'])\n"})
    assert_same(pairs)
    assert [sandboxed.stdout for _, sandboxed in pairs] == [
        "helpers ran\n", "", "v3\n", "env: FROM_IPY=1\n1\n"]
    assert pairs[1][1].result == "('from the notebook', 42)"
    (stock, sandboxed), = both(tmp_path / "failing", ["%run failing.ipynb"],
                               {"failing.ipynb": failing})
    assert sandboxed.stdout == stock.stdout == "first\n"
    # the failing cell's error, then the %run cell's own (it raises what the cell raised)
    assert sandboxed.errors == stock.errors == ["ZeroDivisionError: division by zero"] * 2


# --- %load ----------------------------------------------------------------------------------

def test_load_sets_the_next_cell_input(tmp_path):
    """%load replaces the cell with the file, %recall puts a past cell below: both through a
    set_next_input payload in the execute reply, which the front end acts on."""
    pairs = both_replies(tmp_path, [
        "%load loadme.py",
        "%load -r 2 loadme.py",
        "%load -s second funcs.py",
        "a = 1",
        "%recall 4",
    ], {"loadme.py": "a = 1\nb = 2\n",
        "funcs.py": "def first():\n    return 1\n\n\ndef second():\n    return 2\n"})
    for stock, sandboxed in pairs:
        assert stock["status"] == sandboxed["status"] == "ok"
        assert sandboxed["payload"] == stock["payload"]
    assert [sandboxed["payload"] for _, sandboxed in pairs] == [
        [{"source": "set_next_input", "replace": True,
          "text": "# %load loadme.py\na = 1\nb = 2\n"}],
        [{"source": "set_next_input", "replace": True, "text": "# %load -r 2 loadme.py\nb = 2"}],
        [{"source": "set_next_input", "replace": True,
          "text": "# %load -s second funcs.py\ndef second():\n    return 2\n"}],
        [],
        [{"source": "set_next_input", "replace": False, "text": "a = 1"}],
    ]


def test_pycat_pages_the_file(tmp_path):
    (stock, sandboxed), = both_replies(tmp_path, ["%pycat loadme.py"],
                                       {"loadme.py": "a = 1\nb = 2\n"})
    assert sandboxed["payload"] == stock["payload"]
    (page,) = sandboxed["payload"]
    assert page["source"] == "page"
    assert ANSI.sub("", page["data"]["text/plain"]) == "a = 1\nb = 2\n"


# --- %%writefile ----------------------------------------------------------------------------

def test_writefile_and_append(tmp_path):
    pairs = both(tmp_path, [
        "%%writefile notes.txt\nline one\n",
        "%%writefile -a notes.txt\nline two\n",
        "%%writefile data/more.txt\nin a folder\n",
        "print(open('notes.txt').read(), end='')",
    ], {"data/.keep": ""})
    assert_same(pairs)
    assert [sandboxed.stdout for _, sandboxed in pairs] == [
        "Writing notes.txt\n", "Appending to notes.txt\n", "Writing data/more.txt\n",
        "line one\nline two\n"]


# --- %cd, %pwd ------------------------------------------------------------------------------

def test_cd_and_pwd(tmp_path):
    pairs = both(tmp_path, [
        "%pwd",
        "%cd sub",
        "%pwd",
        "%cd ..",
        "%cd -",
        "%cd nowhere",
        "%cd -q ..",
        "%dhist",
    ], {"sub/.keep": ""})
    missing = pairs.pop(5)
    assert_same(pairs)
    # WASI numbers errno values its own way (ENOENT is 44), the one difference in the message
    assert_same_kinds([missing])
    stock, sandboxed = (ERRNO.sub("[Errno N]", r.stdout) for r in missing)
    assert sandboxed == stock == "[Errno N] No such file or directory: 'nowhere'\n/workspace/sub\n"
    assert [sandboxed.result for _, sandboxed in pairs][:3] == [
        "'/workspace'", None, "'/workspace/sub'"]
    assert pairs[3][1].stdout == "/workspace\n"
    assert pairs[4][1].stdout == "/workspace/sub\n"
    assert pairs[5][1].stdout == ""


# --- %env -----------------------------------------------------------------------------------

def test_env_set_and_get(tmp_path):
    pairs = both(tmp_path, [
        "%env MYVAR=hello",
        "%env MYVAR",
        "%env OTHER world",
        "import os\nos.environ['MYVAR'], os.environ['OTHER']",
        "%set_env THIRD=3",
        "%env THIRD",
        "everything = %env\n'MYVAR' in everything",
    ])
    assert_same(pairs)
    assert pairs[0][1].stdout == "env: MYVAR=hello\n"
    assert pairs[1][1].result == "'hello'"
    assert pairs[3][1].result == "('hello', 'world')"
    assert pairs[6][1].result == "True"


# --- %time, %%time, %timeit -----------------------------------------------------------------

def test_time_and_cell_time(tmp_path):
    pairs = both(tmp_path, [
        "%time sum(range(1000))",
        "%%time\nx = sum(range(1000))",
        "%%time\nx * 2",
    ])
    assert_same_kinds(pairs)
    for stock, sandboxed in pairs:
        assert untimed(sandboxed.stdout) == untimed(stock.stdout), sandboxed.source
        assert sandboxed.result == stock.result
    assert untimed(pairs[1][1].stdout) == "CPU times: user T, sys: T, total: T\nWall time: T\n"
    assert pairs[2][1].result == "999000"


def test_timeit_prints_the_same_shape(tmp_path):
    pairs = both(tmp_path, [
        "%timeit -n 3 -r 2 sum(range(100))",
        "%%timeit -n 2 -r 2\ntotal = 0\nfor i in range(10):\n    total += i",
        "t = %timeit -o -q -n 2 -r 3 sum(range(10))\nlen(t.all_runs), t.loops",
        "%timeit -r 2 sum(range(10))",
    ])
    assert_same_kinds(pairs)
    for stock, sandboxed in pairs[:3]:
        assert untimed(sandboxed.stdout) == untimed(stock.stdout), sandboxed.source
        assert sandboxed.result == stock.result
    assert untimed(pairs[0][1].stdout) == (
        "T ± T per loop (mean ± std. dev. of 2 runs, 3 loops each)\n")
    assert pairs[2][1].result == "(3, 2)"
    # with the loop count chosen by timing, only the count may differ
    loops = re.compile(r"[\d,]+ loops? each")
    assert (loops.sub("N loops each", untimed(pairs[3][1].stdout))
            == loops.sub("N loops each", untimed(pairs[3][0].stdout))
            == "T ± T per loop (mean ± std. dev. of 2 runs, N loops each)\n")


# --- %prun ----------------------------------------------------------------------------------

PROFILE_HEADER = "   ncalls  tottime  percall  cumtime  percall filename:lineno(function)"


def test_prun_pages_the_profile(tmp_path):
    """%prun's report goes to the pager: a ``page`` payload in the execute reply."""
    pairs = both_replies(tmp_path, [
        "%prun -l 3 sum(range(1000))",
        "%%prun -s cumulative\ntotal = sum(range(100))",
        "%run -p -l 2 script.py",
    ], {"script.py": SCRIPT})
    for stock, sandboxed in pairs:
        assert stock["status"] == sandboxed["status"] == "ok"
        assert [p["source"] for p in sandboxed["payload"]] == [
            p["source"] for p in stock["payload"]] == ["page"]
        page = sandboxed["payload"][0]["data"]["text/plain"]
        assert list(sandboxed["payload"][0]["data"]) == list(stock["payload"][0]["data"])
        assert re.search(r"\d+ function calls.* in \d+\.\d+ seconds", page), page
        assert PROFILE_HEADER in page.splitlines(), page
    assert "Ordered by: internal time" in pairs[0][1]["payload"][0]["data"]["text/plain"]
    assert "Ordered by: cumulative time" in pairs[1][1]["payload"][0]["data"]["text/plain"]


def test_prun_output_cells(tmp_path):
    """What the cell itself shows (the pager text is in the payload): the same on both."""
    pairs = both(tmp_path, ["%prun -q sum(range(10))", "%%prun -q\nq = 1"])
    assert_same(pairs)


# --- %who, %whos ----------------------------------------------------------------------------

def test_who_and_whos(tmp_path):
    pairs = both(tmp_path, [
        "alpha = 1\nbeta = 'two'\ndef gamma(): pass",
        "%who",
        "%who int",
        "%who_ls",
        "%whos",
    ])
    whos = pairs.pop()
    assert_same(pairs)
    assert pairs[1][1].stdout == "alpha\t beta\t gamma\t \n"
    assert pairs[3][1].result == "['alpha', 'beta', 'gamma']"
    assert_same_kinds([whos])
    stock, sandboxed = (ADDRESS.sub(" at ADDRESS>", r.stdout) for r in whos)
    assert sandboxed == stock
    assert sandboxed.splitlines()[2:] == ["alpha      int         1", "beta       str         two",
                                          "gamma      function    <function gamma at ADDRESS>"]


# --- %history -------------------------------------------------------------------------------

def test_history(tmp_path):
    pairs = both(tmp_path, [
        "a = 1",
        "b = a + 1",
        "%history -n -l 2",
        "%history 1-2",
        "%history -o -n 2",
        "_ih[2]",
    ])
    assert_same(pairs)
    assert pairs[2][1].stdout == "   1: a = 1\n   2: b = a + 1\n"
    assert pairs[3][1].stdout == "a = 1\nb = a + 1\n"


# --- %xmode ---------------------------------------------------------------------------------

def _traceback_text(result: CellResult) -> list[str]:
    (error,) = (o for o in result.outputs if o.output_type == "error")
    return [ANSI.sub("", frame) for frame in error.traceback]


def test_xmode(tmp_path):
    pairs = both(tmp_path, [
        "%xmode Minimal",
        "1/0",
        "%xmode Plain",
        "def f():\n    return 1/0\nf()",
        "%xmode Context",
    ])
    settings = [pairs[0], pairs[2], pairs[4]]
    assert_same(settings)
    assert [sandboxed.stdout for _, sandboxed in settings] == [
        "Exception reporting mode: Minimal\n", "Exception reporting mode: Plain\n",
        "Exception reporting mode: Context\n"]
    for stock, sandboxed in (pairs[1], pairs[3]):
        assert shape(sandboxed) == shape(stock) == ["error"]
        assert sandboxed.errors == stock.errors == ["ZeroDivisionError: division by zero"]
    minimal_stock, minimal_sandbox = (_traceback_text(r) for r in pairs[1])
    assert minimal_sandbox == minimal_stock == ["ZeroDivisionError: division by zero\n"]
    plain_stock, plain_sandbox = (_traceback_text(r) for r in pairs[3])
    assert plain_sandbox == plain_stock
    assert plain_sandbox[0] == "Traceback (most recent call last):\n"
    assert plain_sandbox[2] == "  Cell In[4], line 2 in f\n    return 1/0\n"


# --- %precision -----------------------------------------------------------------------------

def test_precision(tmp_path):
    pairs = both(tmp_path, [
        "import numpy as np\n%precision 3",
        "3.14159265",
        "np.array([3.14159265])",
        "%precision %.1e",
        "31415.9265",
        "%precision",
        "3.14159265",
        "np.array([3.14159265])",
    ])
    assert_same(pairs)
    assert [sandboxed.result for _, sandboxed in pairs] == [
        "'%.3f'", "3.142", "array([3.142])", "'%.1e'", "3.1e+04", "'%r'", "3.14159265",
        "array([3.14159265])"]


# --- %%capture ------------------------------------------------------------------------------

def test_capture(tmp_path):
    pairs = both(tmp_path, [
        "%%capture cap\nprint('hidden')\nimport sys\nprint('to stderr', file=sys.stderr)\n"
        "display({'text/html': '<b>shown later</b>', 'text/plain': 'shown later'}, raw=True)",
        "cap.stdout, cap.stderr, len(cap.outputs), cap.outputs[0].data",
        "cap.show()",
        "cap()",
        "%%capture --no-stdout kept\nprint('visible anyway')",
        "repr(kept.stdout)",
    ])
    assert_same(pairs)
    assert pairs[0][1].outputs == []
    assert pairs[1][1].result == ("('hidden\\n',\n 'to stderr\\n',\n 1,\n"
                                  " {'text/html': '<b>shown later</b>', "
                                  "'text/plain': 'shown later'})")
    assert shape(pairs[2][1]) == ["stream:stdout", "stream:stderr", "display_data"]
    assert pairs[2][1].mime_types == [["text/html", "text/plain"]]
    assert pairs[4][1].stdout == "visible anyway\n"


# --- %store ---------------------------------------------------------------------------------

def test_store(tmp_path):
    pairs = both(tmp_path, [
        "kept = [1, 2]\n%store kept",
        "del kept\n%store -r kept\nkept",
        "%store",
        "%store -d kept",
        "%store",
    ])
    assert_same(pairs)
    assert pairs[0][1].stdout == "Stored 'kept' (list)\n"
    assert pairs[1][1].result == "[1, 2]"
    assert "kept             -> [1, 2]" in pairs[2][1].stdout
