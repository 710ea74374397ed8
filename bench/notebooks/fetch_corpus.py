"""Make (or refresh) the public-notebook corpus that bench/bench_notebooks.py runs.

Each source below names a public GitHub repository, the commit the corpus was taken from, its
license, and the files taken: notebooks (their outputs cleared, sources kept) and the data files
they read, copied under ``bench/notebooks/<source>/`` with the repository's relative layout, so a
notebook finds its data where it looks for it.

The corpus itself is not committed to this repository (bench/notebooks/.gitignore): the files
are other projects' work and are fetched at the pinned commits instead. Two ways to get a
repository's objects, tried in order:

- a bare mirror already on this machine, ``$CORPUS_MIRROR/<owner>+<name>/repo`` (default
  ``/work/.mirror``, the layout the development machine's snapshot tool produces);
- ``git fetch --depth 1 https://github.com/<owner>/<name> <commit>`` into a cache folder.

    .venv/bin/python bench/notebooks/fetch_corpus.py [--mirror DIR] [--only SOURCE]

SOURCES.md (beside this file) states the same list for people; keep the two in step.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
DEFAULT_MIRROR = Path(os.environ.get("CORPUS_MIRROR", "/work/.mirror"))
GIT_CACHE = Path(os.environ.get("CORPUS_GIT_CACHE",
                                Path(tempfile.gettempdir()) / "jupyter-sandbox-corpus-git"))


@dataclass(frozen=True)
class Source:
    """One repository of the corpus and what is taken from it."""

    name: str  # folder under bench/notebooks/
    repo: str  # owner/name on GitHub
    commit: str
    license: str
    prefix: str  # folder of the repository that maps onto bench/notebooks/<name>/
    notebooks: tuple[str, ...]
    data: tuple[str, ...] = ()
    # The notebooks' prose is under a license that allows no derivatives (the code is MIT):
    # keep only the code cells, which is all the benchmark runs.
    code_cells_only: bool = False
    # Build a notebook from a keyed-text exercise file instead of copying notebooks.
    ktx_exercises: str | None = None
    notes: str = ""


PDSH_NOTEBOOKS = (
    # 01.01 and 01.03-01.05 show their IPython sessions as markdown, with no code cells.
    "01.06-Errors-and-Debugging", "01.07-Timing-and-Profiling",
    "02.01-Understanding-Data-Types", "02.02-The-Basics-Of-NumPy-Arrays",
    "02.03-Computation-on-arrays-ufuncs", "02.04-Computation-on-arrays-aggregates",
    "02.05-Computation-on-arrays-broadcasting", "02.06-Boolean-Arrays-and-Masks",
    "02.07-Fancy-Indexing", "02.08-Sorting", "02.09-Structured-Data-NumPy",
    "03.01-Introducing-Pandas-Objects", "03.02-Data-Indexing-and-Selection",
    "03.03-Operations-in-Pandas", "03.04-Missing-Values", "03.05-Hierarchical-Indexing",
    "03.06-Concat-And-Append", "03.07-Merge-and-Join", "03.08-Aggregation-and-Grouping",
    "03.09-Pivot-Tables", "03.10-Working-With-Strings", "03.11-Working-with-Time-Series",
    "03.12-Performance-Eval-and-Query",
    "04.00-Introduction-To-Matplotlib", "04.01-Simple-Line-Plots", "04.02-Simple-Scatter-Plots",
    "04.03-Errorbars", "04.04-Density-and-Contour-Plots", "04.05-Histograms-and-Binnings",
    "04.06-Customizing-Legends", "04.07-Customizing-Colorbars", "04.08-Multiple-Subplots",
    "04.09-Text-and-Annotation", "04.10-Customizing-Ticks", "04.11-Settings-and-Stylesheets",
    "04.12-Three-Dimensional-Plotting", "04.14-Visualization-With-Seaborn",
    "05.02-Introducing-Scikit-Learn", "05.04-Feature-Engineering", "05.06-Linear-Regression",
    "05.08-Random-Forests", "05.09-Principal-Component-Analysis",
    "05.13-Kernel-Density-Estimation",
)

STATSMODELS_NOTEBOOKS = (
    "ols", "glm", "glm_formula", "gls", "wls", "lowess", "quantile_regression",
    "robust_models_0", "predict", "plots_boxplots", "categorical_interaction_plot",
    "discrete_choice_overview", "tsa_arma_0", "tsa_filters", "tsa_dates", "stats_poisson",
    "stationarity_detrending_adf_kpss", "statespace_arma_0", "copula", "deterministics",
)

SOURCES: tuple[Source, ...] = (
    Source(
        name="pdsh", repo="jakevdp/PythonDataScienceHandbook",
        commit="d66231454ef753818dc9213c9b5942e067266966",
        license="code MIT (LICENSE-CODE); text CC-BY-NC-ND 3.0, so only code cells are kept",
        prefix="notebooks/",
        notebooks=tuple(f"notebooks/{name}.ipynb" for name in PDSH_NOTEBOOKS),
        data=("notebooks/helpers_05_08.py", "notebooks/data/births.csv",
              "notebooks/data/president_heights.csv", "notebooks/data/state-abbrevs.csv",
              "notebooks/data/state-areas.csv", "notebooks/data/state-population.csv"),
        code_cells_only=True,
    ),
    Source(
        name="whirlwind", repo="jakevdp/WhirlwindTourOfPython",
        commit="6f1daf714fe52a8dde6a288674ba46a7feed8816", license="CC0 1.0",
        prefix="",
        notebooks=tuple(f"{name}.ipynb" for name in (
            "02-Basic-Python-Syntax", "03-Semantics-Variables", "04-Semantics-Operators",
            "05-Built-in-Scalar-Types", "06-Built-in-Data-Structures",
            "07-Control-Flow-Statements", "08-Defining-Functions", "09-Errors-and-Exceptions",
            "10-Iterators", "11-List-Comprehensions", "12-Generators",
            "13-Modules-and-Packages", "14-Strings-and-Regular-Expressions",
            "15-Preview-of-Data-Science-Tools")),
    ),
    Source(
        name="sp-lectures", repo="jrjohansson/scientific-python-lectures",
        commit="a2a76136ac06ff5fa91343ae095f1223c914d944", license="CC-BY 3.0 (README)",
        prefix="",
        notebooks=("Lecture-1-Introduction-to-Python-Programming.ipynb", "Lecture-2-Numpy.ipynb",
                   "Lecture-3-Scipy.ipynb", "Lecture-4-Matplotlib.ipynb",
                   "Lecture-5-Sympy.ipynb"),
        data=("stockholm_td_adj.dat",),
    ),
    Source(
        name="pandas-cookbook", repo="jvns/pandas-cookbook",
        commit="69d3389e4d9fee6dcf8e59e4c91397e81da79163", license="CC-BY-SA 4.0 (README)",
        prefix="cookbook/",
        notebooks=tuple(f"cookbook/{name}.ipynb" for name in (
            "A quick tour of IPython Notebook", "Chapter 1 - Reading from a CSV",
            "Chapter 4 - Find out on which weekday people bike the most with groupby and "
            "aggregate",
            "Chapter 5 - Combining dataframes and scraping Canadian weather data",
            "Chapter 6 - String Operations- Which month was the snowiest",
            "Chapter 8 - How to deal with timestamps",
            "Chapter 9 - Loading data from SQL databases")),
        data=("cookbook/data/bikes.csv", "cookbook/data/weather_2012.csv",
              "cookbook/data/weather_2012.sqlite", "cookbook/data/popularity-contest"),
        notes="chapters 2, 3 and 7 left out: they read 311-service-requests.csv (several MB)",
    ),
    Source(
        name="numpy-100", repo="rougier/numpy-100",
        commit="6447594ad639908dc979446a4ec7f0f2e62fb23b", license="MIT",
        prefix="", notebooks=(),
        ktx_exercises="source/exercises100.ktx",
        notes="one notebook built from source/exercises100.ktx: each question as markdown, "
              "its solution as a code cell (what the repository's generators.py makes, "
              "without its %run initialise.py, which needs the mdutils package)",
    ),
    Source(
        name="statsmodels", repo="statsmodels/statsmodels",
        commit="82c59e378bdfb5ae324006c477954879ad3e24be", license="BSD-3-Clause",
        prefix="examples/notebooks/",
        notebooks=tuple(f"examples/notebooks/{name}.ipynb" for name in STATSMODELS_NOTEBOOKS),
        notes="examples that use only statsmodels' bundled datasets (no downloads)",
    ),
    Source(
        name="handson-ml2", repo="ageron/handson-ml2",
        commit="1e2115277b50f6c584cd668fa30e3af309a5b136", license="Apache-2.0",
        prefix="",
        notebooks=("tools_numpy.ipynb", "tools_pandas.ipynb", "tools_matplotlib.ipynb",
                   "math_linear_algebra.ipynb"),
    ),
)


class CorpusFetchError(RuntimeError):
    """A repository or file of the corpus could not be had; the message says which and why."""


def git_dir_for(source: Source, mirror: Path) -> Path:
    """A git directory holding ``source.commit``: the local mirror if it has it, else a
    shallow fetch of exactly that commit from GitHub into the cache."""
    mirrored = mirror / source.repo.replace("/", "+") / "repo"
    if mirrored.is_dir() and _has_commit(mirrored, source.commit):
        return mirrored
    cached = GIT_CACHE / source.repo.replace("/", "+")
    if not (cached / "HEAD").exists():
        cached.mkdir(parents=True, exist_ok=True)
        _git("init", "--bare", "--quiet", str(cached))
    if not _has_commit(cached, source.commit):
        url = f"https://github.com/{source.repo}"
        try:
            _git("--git-dir", str(cached), "fetch", "--quiet", "--depth", "1", url,
                 source.commit)
        except subprocess.CalledProcessError as error:
            raise CorpusFetchError(
                f"cannot fetch {source.commit} of {url}: {error.stderr.strip()}. Put a bare "
                f"mirror at {mirrored} (or pass --mirror) and run again.") from error
    return cached


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def _has_commit(git_dir: Path, commit: str) -> bool:
    probe = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "-e",
                            f"{commit}^{{commit}}"], capture_output=True)
    return probe.returncode == 0


def read_blob(git_dir: Path, commit: str, path: str) -> bytes:
    try:
        return _git("--git-dir", str(git_dir), "show", f"{commit}:{path}")
    except subprocess.CalledProcessError as error:
        raise CorpusFetchError(f"{path} is not in {commit} ({git_dir}): "
                               f"{error.stderr.decode(errors='replace').strip()}") from error


# Version rot, rewritten in the code cells so that later cells still run on both kernels: the
# handbook's `plt.style.use('seaborn-whitegrid')` (matplotlib 3.6 renamed those styles
# 'seaborn-v0_8-*'; the old name raises OSError and takes the rest of its cell with it, often
# `import numpy as np`). Nothing else is changed.
REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"""(['"])seaborn-(?!v0_8)([\w-]*)\1"""), r"\1seaborn-v0_8-\2\1"),
    (re.compile(r"""(['"])seaborn\1(?=\s*\))"""), r"\1seaborn-v0_8\1"),
)


def rewritten(source: str) -> str:
    for pattern, replacement in REWRITES:
        source = pattern.sub(replacement, source)
    return source


def cleared_notebook(raw: bytes, code_cells_only: bool) -> nbformat.NotebookNode:
    """The notebook with every output and execution count removed (sources kept, with the
    REWRITES applied)."""
    notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    if code_cells_only:
        notebook.cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.source = rewritten(cell.source)
        cell.pop("attachments", None)
    return notebook


def ktx_notebook(text: str) -> nbformat.NotebookNode:
    """numpy-100's keyed text (``< q1`` question, ``< h1`` hint, ``< a1`` answer) as a
    notebook of questions and solutions, parsed as the repository's generators.py does."""
    entries: dict[str, str] = {}
    key = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("<"):
            key = line[1:].strip()
            entries[key] = ""
        elif key:
            entries[key] += line
    notebook = nbformat.v4.new_notebook()
    number = 1
    while f"q{number}" in entries:
        notebook.cells.append(nbformat.v4.new_markdown_cell(
            f"#### {number}. {entries[f'q{number}'].strip()}"))
        notebook.cells.append(nbformat.v4.new_code_cell(entries.get(f"a{number}", "").strip()))
        number += 1
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def relative_destination(source: Source, path: str) -> Path:
    if not path.startswith(source.prefix):
        raise CorpusFetchError(f"{path} is outside {source.prefix!r} of {source.repo}")
    return Path(path[len(source.prefix):])


def build_source(source: Source, mirror: Path, into: Path) -> list[Path]:
    """Write one source's files under ``into/<source.name>/`` (replacing what was there)."""
    git_dir = git_dir_for(source, mirror)
    folder = into / source.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    written = []
    for path in source.notebooks:
        notebook = cleared_notebook(read_blob(git_dir, source.commit, path),
                                    source.code_cells_only)
        target = folder / relative_destination(source, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
        written.append(target)
    if source.ktx_exercises:
        text = read_blob(git_dir, source.commit, source.ktx_exercises).decode("utf-8")
        target = folder / "100_Numpy_exercises_with_solutions.ipynb"
        nbformat.write(ktx_notebook(text), target)
        written.append(target)
    for path in source.data:
        target = folder / relative_destination(source, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_blob(git_dir, source.commit, path))
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR,
                        help="folder of bare mirrors named <owner>+<name>/repo")
    parser.add_argument("--only", action="append", default=[],
                        help="build only this source (repeatable)")
    parser.add_argument("--into", type=Path, default=HERE, help="corpus folder")
    args = parser.parse_args(argv)
    total = 0
    for source in SOURCES:
        if args.only and source.name not in args.only:
            continue
        written = build_source(source, args.mirror, args.into)
        size = sum(path.stat().st_size for path in written)
        total += size
        notebooks = sum(1 for path in written if path.suffix == ".ipynb")
        print(f"{source.name:16} {notebooks:3} notebooks  {size / 1e6:6.2f} MB  "
              f"{source.repo}@{source.commit[:10]}", file=sys.stderr)
    print(f"corpus: {total / 1e6:.2f} MB under {args.into}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
