"""Data files a library ships natively but the guest's build of it lacks, supplied from the
sandbox's own read-only copy (``runtime/guest/data/``, mounted with this package).

* statsmodels: 13 of the guest build's 29 dataset modules have no CSV next to them
  (``sm.datasets.spector.load()`` failed with ``FileNotFoundError: …/python315.zip/statsmodels/
  datasets/spector/spector.csv``). Every dataset reads its file through
  ``statsmodels.datasets.utils.load_csv(__file__, name)``; wrapped, it reads a file missing
  beside the dataset's module from ``data/statsmodels/datasets/<dataset>/<name>``, the same
  files as statsmodels 0.15.0's wheel (see the README there). A file found in neither place
  raises :class:`~.unavailable.MissingGuestDataError` naming the dataset, as scikit-learn's
  missing sample images do. A build that has its files uses them unchanged.

Applied when ``statsmodels.datasets.utils`` is first imported (``after_import``), so nothing
here slows the sandbox's start.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .after_import import when_imported
from .unavailable import MissingGuestDataError

#: The vendored files, beside this package in the read-only guest folder.
DATA_ROOT = Path(__file__).resolve().parent.parent / "data"
STATSMODELS_DATASETS = DATA_ROOT / "statsmodels" / "datasets"
STATSMODELS_UTILS = "statsmodels.datasets.utils"


def statsmodels_data_missing(dataset: str, csv_name: str) -> MissingGuestDataError:
    return MissingGuestDataError(
        f"statsmodels' {dataset} dataset ({csv_name}) is not part of the sandbox's statsmodels "
        "build, so it cannot be loaded; put the CSV in the notebook's folder and read it with "
        "pandas.read_csv(path) instead.")


def _dataset_name(base_file: str) -> str | None:
    """The dataset a ``load_csv`` call is for: the folder of a module under
    ``statsmodels/datasets/``; None for any other caller (a notebook's own ``load_csv`` call
    keeps pandas' own error)."""
    folder = Path(base_file).resolve().parent
    if folder.parent.name == "datasets" and folder.parent.parent.name == "statsmodels":
        return folder.name
    return None


def _with_vendored_data(load_csv: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(load_csv)
    def load(base_file: str, csv_name: str, *args: Any, **kwargs: Any) -> Any:
        dataset = _dataset_name(base_file)
        if dataset is None:
            return load_csv(base_file, csv_name, *args, **kwargs)
        try:
            # the build's own file first; inside the stdlib zip, Path.is_file() cannot tell
            return load_csv(base_file, csv_name, *args, **kwargs)
        except FileNotFoundError as missing:
            vendored = STATSMODELS_DATASETS / dataset / csv_name
            if not vendored.is_file():
                raise statsmodels_data_missing(dataset, csv_name) from missing
        # load_csv reads csv_name from base_file's folder: point it at the copy's folder.
        return load_csv(str(vendored.parent / "data.py"), csv_name, *args, **kwargs)

    return load


def _patch_statsmodels_utils(module: types.ModuleType) -> None:
    utils: Any = module  # statsmodels is not type-checked here
    original = getattr(utils, "load_csv", None)
    if original is not None:
        utils.load_csv = _with_vendored_data(original)


def install() -> None:
    when_imported(STATSMODELS_UTILS, _patch_statsmodels_utils)


__all__ = ["DATA_ROOT", "install", "statsmodels_data_missing"]
