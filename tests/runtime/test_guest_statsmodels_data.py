"""statsmodels' datasets whose CSV the guest build lacks load from the sandbox's own copy
(runtime/guest/data/statsmodels/, runtime/guest/jupyter_sandbox_guest/guest_data.py) and give
the same data as the host's statsmodels of the same version."""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

import pytest

from jupyter_sandbox.runtime.guest_files import SHIM_HOST_DIR
from tests.conftest import stream_text
from tests.kernel.stock_parity import run_both

#: The dataset modules that have no data file in the guest's statsmodels build.
VENDORED = ("cancer", "ccard", "china_smoking", "committee", "copper", "cpunish", "fair",
            "fertility", "heart", "interest_inflation", "scotland", "spector", "star98")
DATA = SHIM_HOST_DIR / "data" / "statsmodels" / "datasets"

#: One line of JSON describing a dataset's frames, computed the same way on both sides. Values
#: are rounded to 10 decimals: the guest's pandas (3.0) parses statsmodels' CSVs with
#: ``float_precision="high"``, the host's (3.1) with its default, which can differ in the
#: last binary digit (fertility: 4.553999999999999 and 4.5539999999999985).
SUMMARY = """\
import hashlib, json
import statsmodels.api as sm

def summary(name):
    module = getattr(sm.datasets, name)
    frame = module.load_pandas().data
    rounded = frame.round(10)
    loaded = module.load()
    return json.dumps({
        "shape": list(frame.shape), "columns": [str(c) for c in frame.columns],
        "dtypes": [dtype.kind for dtype in frame.dtypes],
        "first_and_last": json.loads(rounded.iloc[[0, -1]].to_json(orient="values")),
        "csv_sha256": hashlib.sha256(rounded.to_csv().encode()).hexdigest(),
        "load_shape": list(loaded.data.shape),
        "endog": getattr(loaded, "endog_name", None), "exog": getattr(loaded, "exog_name", None),
    })
"""


def host_summary(name: str) -> dict:
    namespace: dict = {}
    exec(SUMMARY, namespace)
    return json.loads(namespace["summary"](name))


@pytest.mark.parametrize("name", VENDORED)
def test_dataset_loads_as_on_the_host(run, name):
    reply, messages = run(SUMMARY + f"print(summary({name!r}))")
    assert reply.status == "ok", (reply.ename, reply.evalue)
    assert json.loads(stream_text(messages)) == host_summary(name)


def test_vendored_files_are_the_host_statsmodels_files():
    """The copies are statsmodels' own files (same version as the guest's: the README)."""
    host = Path(importlib.import_module("statsmodels.datasets").__file__).parent
    copies = sorted(DATA.glob("*/*.csv"))
    assert {path.parent.name for path in copies} == set(VENDORED)
    for path in copies:
        original = host / path.parent.name / path.name
        assert hashlib.sha256(path.read_bytes()).digest() == \
            hashlib.sha256(original.read_bytes()).digest(), path


def test_datasets_the_build_has_still_load_their_own(run):
    reply, messages = run("import statsmodels.api as sm\n"
                          "from statsmodels.datasets import longley\n"
                          "print(longley.load_pandas().data.shape, longley.__file__)")
    assert reply.status == "ok", (reply.ename, reply.evalue)
    assert stream_text(messages).startswith("(16, 7) /usr/local/lib/python315.zip/statsmodels/")


def test_a_dataset_missing_everywhere_says_so(run):
    code = ("from statsmodels.datasets import spector, utils\n"
            "utils.load_csv(spector.data.__file__, 'nosuch.csv')")
    reply, _ = run(code)
    assert (reply.status, reply.ename) == ("error", "MissingGuestDataError")
    assert reply.evalue.startswith("statsmodels' spector dataset (nosuch.csv) is not part of "
                                   "the sandbox's statsmodels build")
    _, messages = run("try:\n    " + code.replace("\n", "\n    ") +
                      "\nexcept FileNotFoundError:\n    print('caught')")
    assert stream_text(messages) == "caught\n"


def test_load_csv_of_a_notebook_file_is_untouched(run):
    """Only statsmodels' dataset modules are redirected: a notebook's own call keeps pandas'
    result and error."""
    reply, messages = run(
        "import pathlib\nfrom statsmodels.datasets.utils import load_csv\n"
        "pathlib.Path('/tmp/mine').mkdir(exist_ok=True)\n"
        "pathlib.Path('/tmp/mine/spector.csv').write_text('a,b\\n1,2\\n')\n"
        "print(load_csv('/tmp/mine/x.py', 'spector.csv').to_dict('list'))\n"
        "load_csv('/tmp/mine/x.py', 'star98.csv')")
    assert stream_text(messages) == "{'a': [1], 'b': [2]}\n"
    assert (reply.ename, "/tmp/mine/star98.csv" in reply.evalue) == ("FileNotFoundError", True)


def test_spector_head_as_on_the_stock_kernel(tmp_path):
    stock_folder, sandbox_folder = tmp_path / "stock", tmp_path / "sandbox"
    stock_folder.mkdir()
    sandbox_folder.mkdir()
    cells = ["import statsmodels.api as sm", "sm.datasets.spector.load_pandas().data.head()"]
    pairs = run_both(cells, stock_folder, sandbox_folder)
    for stock, sandboxed in pairs:
        assert (stock.errors, sandboxed.errors) == ([], [])
    stock, sandboxed = pairs[1]
    assert sandboxed.mime_types == stock.mime_types == [["text/html", "text/plain"]]
    assert sandboxed.result == stock.result
    assert sandboxed.result is not None and sandboxed.result.startswith("    GPA  TUCE  PSI")
    html = [output.data["text/html"] for output in (stock.outputs[0], sandboxed.outputs[0])]
    assert html[1] == html[0]
