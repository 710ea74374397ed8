"""Notebook corpus benchmark: every public notebook of bench/notebooks/ under the stock python3
kernel and under Sandboxed Python, through nbclient as ``jupyter execute`` runs them.

Each notebook runs once per kernel in a fresh copy of its own folder (its data files beside it,
and its writes kept from the other kernel's run), with errors allowed and a per-cell timeout.
One run prints: notebooks and cells passing on each kernel; the cells that fail only in the
sandbox, grouped by cause with one example each; cells that fail on the stock kernel too
(downloads, packages missing on the host), counted apart; cells whose outputs differ only by
the guest's 32-bit default integer (wasm32); and the wall-time ratio sandbox/stock (median per
notebook and total). Progress goes to stderr, one line per notebook.

The corpus is fetched at pinned commits, not committed (bench/notebooks/SOURCES.md); when
bench/notebooks/ has none yet, this runs bench/notebooks/fetch_corpus.py first.

    .venv/bin/python bench/bench_notebooks.py [--only PATTERN] [--jobs N] [--json OUT]
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

CORPUS = Path(__file__).resolve().parent / "notebooks"
STOCK = "python3"
SANDBOX = "sandboxed-python"
KERNELS = (STOCK, SANDBOX)

# Cause groups of sandbox-only failures, in the order they are printed.
CAUSES = ("network", "processes/shell", "missing package", "guest lacks a package's data file",
          "wasm32 differences", "magic", "follow-on (an earlier cell failed)",
          "timeout / kernel died", "other")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_SHELL_LINE = re.compile(r"^\s*(?:[\w., ]+=\s*)?!|^\s*%(?:system|sx)\b"
                         r"|^\s*%%(?:bash|sh|script|system|perl|ruby|python[23]?|pypy|js|svg)\b",
                         re.MULTILINE)
_MAGIC_LINE = re.compile(r"^\s*%{1,2}[A-Za-z]", re.MULTILINE)
_PROCESS_ERROR = re.compile(r"can't start new thread|subprocess|has no attribute '(?:pipe|fork)"
                            r"|shell command|no processes"
                            r"|\bfork\b|multiprocessing|spawn|Resource temporarily unavailable")
_NETWORK_ERROR = re.compile(r"urlopen|URLError|ConnectionError|[Ss]ocket|getaddrinfo"
                            r"|Name or service|[Nn]etwork|_ssl|SSL|HTTPError|HTTP Error"
                            r"|RemoteDisconnected|Errno (?:-[23]|101|110|111)|Temporary failure")
_WASM32_ERROR = re.compile(r"OverflowError|int32|int64|C long|out of bounds for int"
                           r"|Unable to allocate|MemoryError|32-bit|wasm|too big|maximum supported"
                           r"|cannot cast|intp")
_GUEST_LIBRARY = "/usr/local/lib/python315.zip/"  # the guest's built-in packages live here
_INT_WIDTH = ((re.compile(r"\buint32\b"), "uint64"), (re.compile(r"\bint32\b"), "int64"))


@dataclass
class CellRun:
    """One code cell as one kernel ran it."""

    index: int
    status: str  # ok | error | timeout | died (the kernel died at or before this cell)
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    text: str = ""  # text/plain results and stdout, addresses masked, for comparison


@dataclass
class NotebookRun:
    notebook: str
    kernel: str
    wall: float
    cells: list[CellRun] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    start_error: str = ""
    kernel_log: str = ""  # the tail of the kernel's stderr, when it died


def run_notebook(notebook: str, kernel: str, timeout: int) -> NotebookRun:
    """Run ``notebook`` (relative to the corpus) under ``kernel`` in a copy of its folder."""
    source_path = CORPUS / notebook
    with tempfile.TemporaryDirectory(prefix="corpus-") as scratch:
        folder = Path(scratch) / "nb"
        shutil.copytree(source_path.parent, folder)
        nb = nbformat.read(folder / source_path.name, as_version=4)
        code = [(index, cell) for index, cell in enumerate(nb.cells)
                if cell.cell_type == "code" and cell.source.strip()]
        replies: dict[int, dict[str, Any]] = {}

        def on_cell_executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
            replies[cell_index] = execute_reply.get("content", {})

        client = NotebookClient(
            nb, kernel_name=kernel, timeout=timeout, allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=180,
            error_on_timeout={"ename": "CellTimeoutError",
                              "evalue": f"cell did not finish within {timeout} s",
                              "traceback": []},
            resources={"metadata": {"path": str(folder)}},
            on_cell_executed=on_cell_executed)
        run = NotebookRun(notebook, kernel, 0.0, sources=[cell.source for _, cell in code])
        started = time.perf_counter()
        stack = ExitStack()
        try:
            # The kernel's own log (ipykernel's TCP warning, a crash) goes to a file, not
            # between the progress lines; its tail is kept when the kernel dies.
            log = stack.enter_context((Path(scratch) / f"{kernel}.log").open("wb"))
            with client.setup_kernel(stderr=log, stdout=log):
                for position, (index, cell) in enumerate(code):
                    try:
                        client.execute_cell(cell, index)
                    except DeadKernelError as error:
                        run.cells.extend(CellRun(i, "died", "DeadKernelError", str(error))
                                         for i, _ in code[position:])
                        break
                    run.cells.append(_cell_run(index, cell, replies.get(index, {})))
                    if run.cells[-1].status == "timeout" and not _answers(client, replies):
                        reason = (f"the kernel stopped answering execute requests after cell "
                                  f"{index} timed out")
                        run.cells.extend(CellRun(i, "died", "KernelUnresponsive", reason)
                                         for i, _ in code[position + 1:])
                        break
        # A kernel that fails to start or to shut down costs this notebook, not the whole
        # run: its cells are recorded as not run, with the reason.
        except Exception as error:  # noqa: BLE001
            run.start_error = f"{type(error).__name__}: {error}"
            done = {cell.index for cell in run.cells}
            run.cells.extend(CellRun(i, "died", type(error).__name__, str(error))
                             for i, _ in code if i not in done)
        finally:
            stack.close()
        run.wall = time.perf_counter() - started
        if any(cell.status == "died" for cell in run.cells):
            tail = (Path(scratch) / f"{kernel}.log").read_bytes()[-2000:]
            run.kernel_log = tail.decode(errors="replace")
    return run


def _answers(client: NotebookClient, replies: dict[int, dict[str, Any]],
             within: int = 30) -> bool:
    """Does the kernel still answer an execute request after a cell timed out? (One that
    does not would make every later cell wait out its whole timeout.)"""
    probe = nbformat.v4.new_code_cell("None")
    client.nb.cells.append(probe)
    index = len(client.nb.cells) - 1
    timeout = client.timeout
    client.timeout = within
    try:
        client.execute_cell(probe, index, store_history=False)
    except DeadKernelError:
        return False
    finally:
        client.timeout = timeout
        client.nb.cells.pop()
    return replies.pop(index, {}).get("ename") != "CellTimeoutError"


def _cell_run(index: int, cell: Any, reply: dict[str, Any]) -> CellRun:
    errors = [output for output in cell.outputs if output.output_type == "error"]
    texts = []
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stdout":
            texts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            texts.append(str(output.data.get("text/plain", "")))
    text = _ADDRESS.sub("0x…", "\n".join(texts))
    if reply.get("ename") == "CellTimeoutError":
        return CellRun(index, "timeout", "CellTimeoutError", str(reply.get("evalue")), text=text)
    if reply.get("status") == "error" or errors:
        ename = reply.get("ename") or (errors[0].ename if errors else "")
        evalue = reply.get("evalue") or (errors[0].evalue if errors else "")
        traceback = _ANSI.sub("", "\n".join(errors[0].traceback)) if errors else ""
        return CellRun(index, "error", str(ename), str(evalue), traceback[-4000:], text)
    return CellRun(index, "ok", text=text)


def classify(source: str, cell: CellRun, earlier_failure: bool) -> str:
    """The cause group of a cell that failed in the sandbox but not on the stock kernel."""
    message = f"{cell.ename}: {cell.evalue}"
    if cell.status in ("timeout", "died"):
        return "timeout / kernel died"
    if cell.ename == "NameError" and earlier_failure:
        return "follow-on (an earlier cell failed)"
    if _SHELL_LINE.search(source) or _PROCESS_ERROR.search(message):
        return "processes/shell"
    if _NETWORK_ERROR.search(message) or (re.search(r"https?://", source)
                                          and cell.ename in ("OSError", "URLError")):
        return "network"
    if _MAGIC_LINE.search(source) and (
            cell.ename == "UsageError" or "enable_gui" in message or "magic" in message
            or "IPython/core/magic" in cell.traceback or "backend" in message):
        return "magic"
    if cell.ename in ("ModuleNotFoundError", "ImportError") or "No module named" in message:
        return "missing package"
    if cell.ename == "FileNotFoundError" and _GUEST_LIBRARY in message:
        return "guest lacks a package's data file"
    if _WASM32_ERROR.search(message):
        return "wasm32 differences"
    return "other"


def widened(text: str) -> str:
    """``text`` as a 64-bit default integer would have printed it (dtype names only)."""
    for pattern, wide in _INT_WIDTH:
        text = pattern.sub(wide, text)
    return text


@dataclass
class Pairing:
    """What one notebook's two runs say, cell by cell."""

    notebook: str
    cells: int
    passed: dict[str, int]
    notebook_passed: dict[str, bool]
    wall: dict[str, float]
    sandbox_only: list[dict[str, Any]]
    both_fail: int
    stock_only_fail: int
    int_width_only: list[int]
    int_width_and_more: list[int]
    other_output_diffs: int


def pair(stock: NotebookRun, sandbox: NotebookRun) -> Pairing:
    by_index = {cell.index: cell for cell in sandbox.cells}
    sources = dict(zip((cell.index for cell in stock.cells), stock.sources, strict=False))
    passed = {STOCK: 0, SANDBOX: 0}
    sandbox_only: list[dict[str, Any]] = []
    both_fail = stock_only_fail = other_diffs = 0
    width_only: list[int] = []
    width_more: list[int] = []
    for cell in stock.cells:
        ours = by_index.get(cell.index, CellRun(cell.index, "died", "missing", "no result"))
        passed[STOCK] += cell.status == "ok"
        passed[SANDBOX] += ours.status == "ok"
        if cell.status != "ok" and ours.status != "ok":
            both_fail += 1
        elif cell.status != "ok":
            stock_only_fail += 1
        elif ours.status != "ok":
            source = sources.get(cell.index, "")
            cause = classify(source, ours, earlier_failure=bool(sandbox_only))
            sandbox_only.append({"notebook": stock.notebook, "cell": cell.index,
                                 "cause": cause, "error": _error_line(ours),
                                 "source": source[:300]})
        elif cell.text != ours.text:
            if widened(ours.text) == cell.text:
                width_only.append(cell.index)
            elif re.search(r"\bu?int32\b", ours.text) and re.search(r"\bu?int64\b", cell.text):
                width_more.append(cell.index)
            else:
                other_diffs += 1
    total = len(stock.cells)
    return Pairing(stock.notebook, total, passed,
                   {STOCK: passed[STOCK] == total, SANDBOX: passed[SANDBOX] == total},
                   {STOCK: stock.wall, SANDBOX: sandbox.wall}, sandbox_only, both_fail,
                   stock_only_fail, width_only, width_more, other_diffs)


def _error_line(cell: CellRun) -> str:
    line = f"{cell.ename}: {cell.evalue}".strip().splitlines()
    return (line[0] if line else cell.ename)[:200]


def discover(patterns: Iterable[str]) -> list[str]:
    notebooks = sorted(str(path.relative_to(CORPUS)) for path in CORPUS.rglob("*.ipynb")
                       if ".ipynb_checkpoints" not in path.parts)
    patterns = list(patterns)
    if patterns:
        notebooks = [nb for nb in notebooks
                     if any(fnmatch.fnmatch(nb, p) or p in nb for p in patterns)]
    return notebooks


def summarize(pairings: list[Pairing]) -> dict[str, Any]:
    cells = sum(p.cells for p in pairings)
    by_cause: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in pairings:
        for failure in p.sandbox_only:
            by_cause[failure["cause"]].append(failure)
    ratios = [p.wall[SANDBOX] / p.wall[STOCK] for p in pairings if p.wall[STOCK] > 0]
    other_names = Counter(f["error"].split(":")[0] for f in by_cause.get("other", []))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "notebooks": len(pairings),
        "cells": cells,
        "notebooks_passing": {k: sum(p.notebook_passed[k] for p in pairings) for k in KERNELS},
        "cells_passing": {k: sum(p.passed[k] for p in pairings) for k in KERNELS},
        "fail_on_both": sum(p.both_fail for p in pairings),
        "fail_on_stock_only": sum(p.stock_only_fail for p in pairings),
        "sandbox_only": sum(len(v) for v in by_cause.values()),
        "sandbox_only_by_cause": {cause: {"count": len(by_cause[cause]),
                                          "example": by_cause[cause][0]}
                                  for cause in CAUSES if by_cause.get(cause)},
        "other_by_error": dict(other_names.most_common(10)),
        "int_width_only_cells": sum(len(p.int_width_only) for p in pairings),
        "int_width_and_other_cells": sum(len(p.int_width_and_more) for p in pairings),
        "other_output_differences": sum(p.other_output_diffs for p in pairings),
        "wall_seconds": {k: round(sum(p.wall[k] for p in pairings), 1) for k in KERNELS},
        "wall_ratio_median": round(statistics.median(ratios), 2) if ratios else None,
        "wall_ratio_total": round(sum(p.wall[SANDBOX] for p in pairings)
                                  / max(sum(p.wall[STOCK] for p in pairings), 1e-9), 2),
    }


def report(summary: dict[str, Any]) -> str:
    lines = [f"Notebook corpus ({summary['date']}): {summary['notebooks']} notebooks, "
             f"{summary['cells']} code cells"]
    for kernel in KERNELS:
        lines.append(f"  {kernel:18} notebooks passing {summary['notebooks_passing'][kernel]:3}"
                     f"/{summary['notebooks']}   cells passing "
                     f"{summary['cells_passing'][kernel]:5}/{summary['cells']}")
    lines.append(f"  failing on both kernels (downloads, packages missing on the host…): "
                 f"{summary['fail_on_both']}; failing on the stock kernel only: "
                 f"{summary['fail_on_stock_only']}")
    lines.append(f"  failing only in the sandbox: {summary['sandbox_only']}")
    for cause, entry in summary["sandbox_only_by_cause"].items():
        example = entry["example"]
        lines.append(f"    {entry['count']:4}  {cause}   e.g. {example['notebook']} "
                     f"cell {example['cell']}: {example['error']}")
    if summary["other_by_error"]:
        lines.append("          other, by error: " + ", ".join(
            f"{name} {count}" for name, count in summary["other_by_error"].items()))
    lines.append(f"  passing on both, outputs differing only by the 32-bit default integer: "
                 f"{summary['int_width_only_cells']} cells (and "
                 f"{summary['int_width_and_other_cells']} with int32/int64 plus other "
                 f"differences; {summary['other_output_differences']} differ otherwise: "
                 f"random numbers, timings…)")
    lines.append(f"  wall time sandbox/stock: median per notebook {summary['wall_ratio_median']}x,"
                 f" total {summary['wall_ratio_total']}x ({summary['wall_seconds'][SANDBOX]} s"
                 f" / {summary['wall_seconds'][STOCK]} s)")
    return "\n".join(lines)


def fetch_corpus() -> Any:
    """bench/notebooks/fetch_corpus.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location("fetch_corpus", CORPUS / "fetch_corpus.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{CORPUS / 'fetch_corpus.py'} is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="run notebooks whose path (relative to bench/notebooks) matches "
                             "this glob or contains this text (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="kernels run at once (default 1)")
    parser.add_argument("--timeout", type=int, default=120, help="per-cell timeout, seconds")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write every result here")
    args = parser.parse_args(argv)
    if not discover([]):
        print("no corpus yet: making it with bench/notebooks/fetch_corpus.py", file=sys.stderr)
        fetch_corpus().main([])
    notebooks = discover(args.only)
    if not notebooks:
        print(f"no notebooks under {CORPUS} match; build the corpus with "
              f"bench/notebooks/fetch_corpus.py", file=sys.stderr)
        return 2
    runs: dict[str, dict[str, NotebookRun]] = defaultdict(dict)
    pairings: list[Pairing] = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {(nb, kernel): pool.submit(run_notebook, nb, kernel, args.timeout)
                   for nb in notebooks for kernel in KERNELS}
        for number, nb in enumerate(notebooks, 1):
            for kernel in KERNELS:
                runs[nb][kernel] = futures[nb, kernel].result()
            pairing = pair(runs[nb][STOCK], runs[nb][SANDBOX])
            pairings.append(pairing)
            causes = Counter(f["cause"] for f in pairing.sandbox_only)
            print(f"[{number}/{len(notebooks)}] {nb}: {pairing.cells} cells, stock "
                  f"{pairing.passed[STOCK]} ok, sandbox {pairing.passed[SANDBOX]} ok, "
                  f"{len(pairing.sandbox_only)} sandbox-only "
                  f"{dict(causes) if causes else ''}  {pairing.wall[STOCK]:.1f}s / "
                  f"{pairing.wall[SANDBOX]:.1f}s", file=sys.stderr, flush=True)
    summary = summarize(pairings)
    print(report(summary))
    if args.json:
        args.json.write_text(json.dumps({
            "summary": summary,
            "notebooks": [asdict(p) for p in pairings],
            "runs": {nb: {k: asdict(r) for k, r in by_kernel.items()}
                     for nb, by_kernel in runs.items()},
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
