"""The read-only files every guest sees besides the stdlib: our guest shim, the pure-Python
packages it needs (IPython and friends, taken from the host environment where pip installed
them as our dependencies), and matplotlib's extracted ``mpl-data``."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path

from .artifacts import STDLIB_GUEST_PATH, guest_artifacts
from .errors import SandboxError

GUEST_LIB = "/usr/local/lib/jupyter-sandbox"
GUEST_SHIM_PATH = f"{GUEST_LIB}/guest"
GUEST_SITE_PACKAGES = f"{GUEST_LIB}/site-packages"
MPL_DATA_GUEST_PATH = f"{STDLIB_GUEST_PATH}/matplotlib/mpl-data"

#: Import names of the pure-Python packages mounted into the guest.
GUEST_PACKAGES = (
    "IPython", "traitlets", "jedi", "parso", "pygments", "stack_data", "executing",
    "asttokens", "pure_eval", "decorator", "prompt_toolkit", "wcwidth", "matplotlib_inline",
    "comm", "ipywidgets", "ipython_pygments_lexers", "typing_extensions",
)

SHIM_HOST_DIR = Path(__file__).resolve().parent / "guest"


def package_locations() -> dict[str, Path]:
    """Host path of each guest package: a folder for packages, a file for single modules."""
    found = {}
    for name in GUEST_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SandboxError(
                f"the guest needs the pure-Python package {name!r}, which is not installed "
                "on the host; reinstall jupyter-sandbox with its dependencies"
            )
        if spec.submodule_search_locations:
            found[name] = Path(next(iter(spec.submodule_search_locations)))
        else:
            found[name] = Path(spec.origin)
    return found


def mpl_data_dir(cache: Path) -> Path:
    """matplotlib's data folder, extracted once from the stdlib zip into ``cache``."""
    target = cache / f"mpl-data-{guest_artifacts().stdlib_sha256[:16]}"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix="mpl-data-"))
    with zipfile.ZipFile(guest_artifacts().stdlib_zip) as stdlib:
        with stdlib.open("matplotlib/mpl-data.zip") as inner, zipfile.ZipFile(inner) as data:
            for member in data.infolist():
                destination = (staging / member.filename).resolve()
                if not str(destination).startswith(str(staging.resolve()) + os.sep):
                    raise SandboxError(f"unsafe path in mpl-data.zip: {member.filename!r}")
            data.extractall(staging)
    inner_root = staging / "mpl-data" if (staging / "mpl-data").is_dir() else staging
    try:
        os.replace(inner_root, target)
    except OSError:
        if not target.is_dir():  # another process won the race: fine; otherwise re-raise
            raise
    return target
