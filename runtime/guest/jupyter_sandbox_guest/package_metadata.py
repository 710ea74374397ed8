"""Package metadata the guest needs but its mounted packages lack.

The host mounts only the import folders of the guest's pure-Python packages, not their
``.dist-info``. matplotlib finds the ``inline`` backend through matplotlib-inline's entry point,
so without it ``MPLBACKEND=module://matplotlib_inline.backend_inline`` is rejected and
``import matplotlib`` fails. This finder supplies that one distribution (name, version read from
the package's source, entry points) unless a real one is found on ``sys.path``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_INLINE_ENTRY_POINTS = "[matplotlib.backend]\ninline = matplotlib_inline.backend_inline\n"


class _SynthesizedDistribution(importlib.metadata.Distribution):
    def __init__(self, files: dict[str, str]) -> None:
        self._files = files

    def read_text(self, filename: str) -> str | None:
        return self._files.get(filename)

    def locate_file(self, path: Any) -> Path:
        return Path(path)


class MissingMetadataFinder(importlib.metadata.DistributionFinder):
    """Yields matplotlib-inline's metadata when no ``.dist-info`` for it is mounted."""

    def find_spec(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # a metadata finder only; imports are left to the other finders

    def find_distributions(self, context: Any = None) -> Iterator[importlib.metadata.Distribution]:
        context = context or importlib.metadata.DistributionFinder.Context()
        wanted = getattr(context, "name", None)
        if wanted is not None and _normalize(wanted) != "matplotlib_inline":
            return
        if _has_real_distribution():
            return
        version = _source_version("matplotlib_inline")
        if version is None:
            return
        yield _SynthesizedDistribution({
            "METADATA": f"Metadata-Version: 2.1\nName: matplotlib-inline\nVersion: {version}\n",
            "entry_points.txt": _INLINE_ENTRY_POINTS,
        })


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _has_real_distribution() -> bool:
    for finder in sys.meta_path:
        if isinstance(finder, MissingMetadataFinder) or not hasattr(finder, "find_distributions"):
            continue
        context = importlib.metadata.DistributionFinder.Context(name="matplotlib_inline")
        if next(iter(finder.find_distributions(context)), None) is not None:
            return True
    return False


def _source_version(package: str) -> str | None:
    """``__version__`` as written in the package's ``__init__.py`` (without importing it:
    matplotlib_inline's import needs matplotlib, which is what is being set up)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""",
                      Path(spec.origin).read_text(encoding="utf-8"), re.MULTILINE)
    return found.group(1) if found else None


def install() -> None:
    sys.meta_path.append(MissingMetadataFinder())


__all__ = ["MissingMetadataFinder", "install"]
