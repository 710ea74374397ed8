"""Issue 18, items 1 and 4: the same notebook under the stock python3 kernel and Sandboxed
Python, through nbclient, compared cell by cell.

Every ``%matplotlib`` form of real notebooks (inline, bare, ``%pylab``, ``InlineBackend``
formats and rc, ``plt.show()``, figures left open, ``ioff``/``ion``) gives the outputs stock
gives; the libraries that probe for a Jupyter front end (pandas, tqdm, ``get_ipython()``
checks) see one; what the sandbox cannot do yet (shell cell magics, process pools, the
sample images its scikit-learn lacks) says so clearly; interactive backends fall back to
inline with one notice. One notebook per kernel, so the two kernels start once each.
"""

from __future__ import annotations

import base64
import struct

import pytest

from .stock_parity import CellResult, run_both

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOTICE = "figures are shown inline (static images) instead"
NO_SHELL = "the sandbox has no such program"

# Cells in notebook order; the interactive-backend ones come last, since on the stock kernel
# they really switch the backend (and so would change every later figure).
CELLS: dict[str, str] = {
    "inline": "%matplotlib inline",
    "show": "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
    "left_open": "fig, ax = plt.subplots()\nax.bar(['a', 'b'], [3, 4]);",
    "none_left": "len(plt.get_fignums())",
    "bare": "%matplotlib",
    "backend": "import matplotlib\nmatplotlib.get_backend()",
    "ioff_figure": "plt.ioff()\nfig = plt.figure()\nplt.plot([1, 2]);",
    "ioff_show": "plt.plot([2, 1])\nplt.show()",
    "ion": "plt.ion()\nplt.plot([1, 3]);",
    "retina_config": "%config InlineBackend.figure_format = 'retina'",
    "retina": "plt.plot([1, 2]);",
    "svg_config": "%config InlineBackend.figure_format = 'svg'",
    "svg": "plt.plot([1, 2]);",
    "png_config": "%config InlineBackend.figure_format = 'png'",
    "rc_config": "%config InlineBackend.rc = {'figure.figsize': (3, 2)}\n%matplotlib inline",
    "rc": "plt.plot([1, 2]);",
    "pylab": "%pylab inline",
    "pylab_plot": "plot(linspace(0, 1, 5));",
    "shell_name": "get_ipython().__class__.__name__",
    "kernel_probes": "ip = get_ipython()\n"
                     "(hasattr(ip, 'kernel'), 'IPKernelApp' in ip.config, str(type(ip)))",
    "pandas_frontend": "from pandas.io.formats.console import in_ipython_frontend\n"
                       "in_ipython_frontend()",
    "wide_frame": "import numpy as np\nimport pandas as pd\n"
                  "pd.set_option('display.width', 80)\n"
                  "df = pd.DataFrame(np.arange(3 * 30).reshape(3, 30) * 1000,\n"
                  "                  columns=[f'column_{i}' for i in range(30)])\n"
                  "df",
    "wide_frame_print": "print(df)",
    "tqdm_auto": "import tqdm.auto\nfor _ in tqdm.auto.tqdm(range(3)):\n    pass\n"
                 "tqdm.auto.tqdm.__mro__[1].__name__",
    "ipython_display": "from IPython.display import HTML, Markdown, display\n"
                       "display(HTML('<b>bold</b>'), Markdown('*em*'))",
    "bash": "%%bash\necho hi",
    "sh": "%%sh\necho hi",
    "script": "%%script python3\nprint(1)",
    "pool": "import multiprocessing\nwith multiprocessing.Pool(2) as pool:\n"
            "    print(pool.map(len, ['a', 'bb']))",
    "process_pool": "from concurrent.futures import ProcessPoolExecutor\n"
                    "with ProcessPoolExecutor(2) as executor:\n"
                    "    print(list(executor.map(len, ['a', 'bb'])))",
    "sample_image": "from sklearn.datasets import load_sample_image\n"
                    "load_sample_image('china.jpg').shape",
    "notebook": "%matplotlib notebook",
    "after_notebook": "plt.figure()\nplt.plot([1, 2]);",
    "widget": "%matplotlib widget",
    "ipympl": "%matplotlib ipympl",
    "qt": "%matplotlib qt",
    "tk": "%matplotlib tk",
}


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[CellResult, CellResult]]:
    """Each cell's (stock, sandbox) results, by name."""
    stock = tmp_path_factory.mktemp("stock")
    sandbox = tmp_path_factory.mktemp("sandbox")
    pairs = run_both(list(CELLS.values()), stock, sandbox)
    return dict(zip(CELLS, pairs, strict=True))


def _figures(cell: CellResult) -> list[dict]:
    return [output for output in cell.outputs
            if output.output_type == "display_data" and "text/plain" in output.data
            and output.data["text/plain"].startswith("<Figure size")]


def _png_size(data: str) -> tuple[int, int]:
    png = base64.b64decode(data)
    assert png.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _assert_same_kinds(stock: CellResult, sandbox: CellResult) -> None:
    assert sandbox.errors == stock.errors == []
    assert sandbox.output_types == stock.output_types
    assert sandbox.mime_types == stock.mime_types


@pytest.mark.parametrize("name", ["inline", "show", "left_open", "ioff_figure", "ioff_show",
                                  "ion", "rc", "pylab_plot", "retina_config", "svg_config",
                                  "png_config", "rc_config"])
def test_matplotlib_cells_give_what_stock_gives(cells, name):
    stock, sandbox = cells[name]
    _assert_same_kinds(stock, sandbox)
    assert sandbox.stderr == stock.stderr == ""


@pytest.mark.parametrize("name", ["show", "left_open", "ion", "rc", "pylab_plot"])
def test_figures_are_png(cells, name):
    stock, sandbox = cells[name]
    figures = _figures(sandbox)
    assert len(figures) == len(_figures(stock)) == 1
    assert sorted(figures[0].data) == ["image/png", "text/plain"]
    _png_size(figures[0].data["image/png"])
    assert figures[0].data["text/plain"] == _figures(stock)[0].data["text/plain"]


def test_inline_rc_sets_the_figure_size(cells):
    stock, sandbox = cells["rc"]
    assert _figures(sandbox)[0].data["text/plain"] == "<Figure size 300x200 with 1 Axes>"


def test_figures_are_closed_after_display(cells):
    stock, sandbox = cells["none_left"]
    assert sandbox.result == stock.result == "0"


def test_bare_matplotlib_picks_the_inline_backend(cells):
    stock, sandbox = cells["bare"]
    assert sandbox.errors == []
    assert sandbox.stdout == stock.stdout
    assert "inline" in sandbox.stdout
    stock, sandbox = cells["backend"]
    assert sandbox.result == stock.result == "'inline'"


def test_retina_figures_carry_half_their_pixel_size(cells):
    stock, sandbox = cells["retina"]
    _assert_same_kinds(stock, sandbox)
    [figure] = _figures(sandbox)
    metadata = figure.metadata["image/png"]
    assert metadata == _figures(stock)[0].metadata["image/png"]
    width, height = _png_size(figure.data["image/png"])
    assert (width, height) == (2 * metadata["width"], 2 * metadata["height"])


def test_svg_figures(cells):
    stock, sandbox = cells["svg"]
    _assert_same_kinds(stock, sandbox)
    [figure] = _figures(sandbox)
    assert sorted(figure.data) == ["image/svg+xml", "text/plain"]
    assert "<svg" in figure.data["image/svg+xml"]


def test_pylab_inline(cells):
    stock, sandbox = cells["pylab"]
    assert sandbox.errors == []
    assert sandbox.stdout == stock.stdout
    assert "Populating the interactive namespace" in sandbox.stdout


def test_shell_looks_like_ipykernels(cells):
    for name in ("shell_name", "kernel_probes", "pandas_frontend"):
        stock, sandbox = cells[name]
        assert sandbox.errors == []
        assert sandbox.result == stock.result, name
    assert cells["shell_name"][1].result == "'ZMQInteractiveShell'"
    assert cells["kernel_probes"][1].result == \
        "(True, True, \"<class 'ipykernel.zmqshell.ZMQInteractiveShell'>\")"
    assert cells["pandas_frontend"][1].result == "True"


def test_wide_dataframe_repr_matches_stock(cells):
    stock, sandbox = cells["wide_frame"]
    _assert_same_kinds(stock, sandbox)
    assert sandbox.result == stock.result
    assert "column_29" in sandbox.result and "[3 rows x 30 columns]" in sandbox.result
    stock, sandbox = cells["wide_frame_print"]
    assert sandbox.stdout == stock.stdout


def test_tqdm_auto_picks_the_notebook_bar(cells):
    stock, sandbox = cells["tqdm_auto"]
    _assert_same_kinds(stock, sandbox)
    assert sandbox.result == stock.result == "'tqdm_notebook'"
    assert ["application/vnd.jupyter.widget-view+json", "text/plain"] in sandbox.mime_types
    assert sandbox.stderr == stock.stderr == ""  # no warning about tqdm's monitor thread


def test_ipython_display(cells):
    stock, sandbox = cells["ipython_display"]
    _assert_same_kinds(stock, sandbox)
    assert sandbox.mime_types == [["text/html", "text/plain"], ["text/markdown", "text/plain"]]


@pytest.mark.parametrize("name", ["bash", "sh"])
def test_sh_and_bash_cells_run_as_on_the_stock_kernel(cells, name):
    stock, sandbox = cells[name]  # the sandbox's shell (shell_commands.py, issue 15)
    assert sandbox.stdout == stock.stdout == "hi\n"
    assert sandbox.errors == stock.errors == []


def test_script_python3_runs_as_on_the_stock_kernel(cells):
    stock, sandbox = cells["script"]  # a python process of the sandbox (issue 15)
    assert sandbox.stdout == stock.stdout == "1\n"
    assert sandbox.errors == stock.errors == []


@pytest.mark.parametrize("name, what", [("pool", "multiprocessing.Pool()"),
                                        ("process_pool", "ProcessPoolExecutor")])
def test_process_pools_say_processes_are_unavailable(cells, name, what):
    stock, sandbox = cells[name]
    assert stock.stdout == "[1, 2]\n"
    [error] = sandbox.errors
    assert error.startswith("ProcessesUnavailableError: ")
    assert what in error and "cannot start yet" in error


def test_missing_sample_images_are_explained(cells):
    stock, sandbox = cells["sample_image"]
    assert stock.result == "(427, 640, 3)"
    [error] = sandbox.errors
    assert error.startswith("MissingGuestDataError: ")
    assert "not part of the sandbox's scikit-learn build" in error


@pytest.mark.parametrize("name", ["notebook", "widget", "ipympl", "qt", "tk"])
def test_interactive_backends_fall_back_to_inline_with_one_notice(cells, name):
    _stock, sandbox = cells[name]
    assert sandbox.errors == []
    assert sandbox.stderr.count(NOTICE) == 1 and sandbox.stderr.count("\n") == 1
    assert repr(name) in sandbox.stderr


def test_figures_stay_inline_after_a_fallback(cells):
    stock, sandbox = cells["after_notebook"]
    assert stock.errors == sandbox.errors == []
    [figure] = _figures(sandbox)
    _png_size(figure.data["image/png"])

