"""The README's table of wasm32 integer differences stays true.

The guest is 32-bit WebAssembly, so numpy's default integer (``np.intp``) is int32 there and
int64 on the stock kernel. numpy fixes that at build time; the project documents it instead
(README, "Differences from the stock kernel"). Each row of the README's table is evaluated here:
in a real sandbox for the "Sandboxed Python" column and on the host's numpy (what the stock
kernel runs) for the other, so neither column can drift from what users see.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import stream_text

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(?P<expression>[^`]+)` \| `(?P<sandbox>[^`]+)` \| `(?P<stock>[^`]+)` \|$")
SETUP = "import sys\nimport numpy as np\nimport pandas as pd\n"
EVALUATE = """
import json as _json
def _shown(expression):
    try:
        return repr(eval(expression))
    except Exception as error:
        return f"{type(error).__name__}: {error}"
print(_json.dumps([_shown(e) for e in _json.loads(%r)]))
"""


def documented_rows() -> list[tuple[str, str, str]]:
    """The (expression, sandbox, stock) rows of the README's wasm32 integer table."""
    text = README.read_text(encoding="utf-8")
    start = text.index("**Integers are 32-bit by default")
    section = text[start:text.index("\n#", start)]
    rows = [(m["expression"], m["sandbox"], m["stock"])
            for m in map(ROW.match, section.splitlines()) if m]
    return rows


def test_readme_has_the_table():
    rows = documented_rows()
    assert len(rows) >= 8
    assert ("np.arange(10).sum()", "np.int32(45)", "np.int64(45)") in rows


def test_sandbox_column_is_what_the_guest_shows(run):
    rows = documented_rows()
    expressions = [expression for expression, _, _ in rows]
    reply, messages = run(SETUP + EVALUATE % json.dumps(expressions))
    assert reply.status == "ok", (reply.ename, reply.evalue, stream_text(messages, "stderr"))
    shown = json.loads(stream_text(messages).strip().splitlines()[-1])
    assert [(e, s) for e, s, _ in rows] == list(zip(expressions, shown, strict=True))


@pytest.mark.skipif(sys.maxsize < 2**63 - 1, reason="the stock column is for 64-bit hosts")
def test_stock_column_is_what_a_64_bit_numpy_shows():
    import numpy as np
    import pandas as pd

    namespace = {"np": np, "pd": pd, "sys": sys}
    for expression, _, stock in documented_rows():
        try:
            shown = repr(eval(expression, namespace))  # the README is the project's own text
        except (ArithmeticError, TypeError, ValueError) as error:
            shown = f"{type(error).__name__}: {error}"
        assert (expression, shown) == (expression, stock)


def test_explicit_int64_is_64_bit_and_csv_columns_are_int64(run, tmp_path):
    """The README's advice holds: dtype=np.int64 gives 64-bit results, and pandas' own
    integer columns (a CSV file's, Python ints') are int64 as on the stock kernel."""
    reply, messages = run(SETUP + (
        "import io\n"
        "frame = pd.read_csv(io.StringIO('a,b\\n1,2\\n3,4\\n'))\n"
        "print(np.arange(100000, dtype=np.int64).sum(), frame.a.dtype, frame.a.sum().dtype,"
        " np.array([1, 2]).astype(np.int64).cumsum().dtype)\n"))
    assert reply.status == "ok", reply.evalue
    assert stream_text(messages).split() == ["4999950000", "int64", "int64", "int64"]
