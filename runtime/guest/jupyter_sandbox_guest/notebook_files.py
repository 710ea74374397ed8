"""``%run other.ipynb`` in the guest, which has no ``nbformat``.

IPython runs a notebook's code cells through ``nbformat.read``; nbformat needs ``jsonschema``,
whose ``rpds`` dependency is compiled and cannot be loaded by the WebAssembly interpreter, so
the guest reads the notebook's JSON itself. Only the code cells' sources are needed, which
every notebook format since 3 stores the same way (a string or a list of lines).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from warnings import warn


class NotebookFormatError(ValueError):
    """The file is not a notebook this reader understands."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"cannot run {path}: {why}; open it in JupyterLab and save it again "
                         "to convert it to the current notebook format")


def code_cells(path: Path) -> Iterator[str]:
    """The source of each code cell of the notebook at ``path``, in order."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise NotebookFormatError(path, f"it is not JSON ({exc})") from exc
    if not isinstance(notebook, dict):
        raise NotebookFormatError(path, "it is not a notebook (no top-level object)")
    major = notebook.get("nbformat")
    if major == 4:
        cells, key = notebook.get("cells") or [], "source"
    elif major == 3:
        cells = [cell for sheet in notebook.get("worksheets") or []
                 for cell in sheet.get("cells") or []]
        key = "input"
    else:
        raise NotebookFormatError(path, f"notebook format {major!r} is not 3 or 4")
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get(key) or ""
            yield "".join(source) if isinstance(source, list) else str(source)


def run_notebook(shell: Any, fname: str | Path, shell_futures: bool = False,
                 raise_exceptions: bool = False) -> None:
    """What ``InteractiveShell.safe_execfile_ipy`` does for a ``.ipynb`` file: run its code
    cells in the user's namespace, with the notebook's folder on ``sys.path``, stopping at
    the first cell that fails."""
    from IPython.utils.syspathcontext import prepended_to_syspath

    path = Path(fname).expanduser().resolve()
    try:
        with path.open("rb"):
            pass
    except OSError:
        warn(f"Could not open file <{path}> for safe execution.", stacklevel=2)
        return
    with prepended_to_syspath(str(path.parent)):
        try:
            for cell in code_cells(path):
                result = shell.run_cell(cell, silent=True, shell_futures=shell_futures)
                if raise_exceptions:
                    result.raise_error()
                elif not result.success:
                    break
        except Exception:
            if raise_exceptions:
                raise
            shell.showtraceback()
            warn(f"Unknown failure executing file: <{path}>", stacklevel=2)
