"""Run the same cells under the stock ``python3`` kernel and under Sandboxed Python, through
nbclient as ``jupyter execute`` does, so a test can compare what a notebook user would see.

Both kernels run with the notebook's folder (``folder``) as their working directory, which
is what JupyterLab and nbclient give a notebook; files a test puts there are the notebook's
data files (the sandbox sees the folder at ``/workspace``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

STOCK = "python3"
SANDBOX = "sandboxed-python"


@dataclass(frozen=True)
class CellResult:
    """What one executed code cell showed: its outputs as nbformat nodes."""

    source: str
    outputs: list[nbformat.NotebookNode]

    @property
    def output_types(self) -> list[str]:
        return [output.output_type for output in self.outputs]

    @property
    def mime_types(self) -> list[list[str]]:
        """The MIME bundle keys of each rich output (display_data / execute_result)."""
        return [sorted(output.data) for output in self.outputs
                if output.output_type in ("display_data", "execute_result")]

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def stderr(self) -> str:
        return self.stream("stderr")

    def stream(self, name: str) -> str:
        """A stream's whole text; how a kernel splits it into messages depends on timing."""
        return "".join(output.text for output in self.outputs
                       if output.output_type == "stream" and output.name == name)

    @property
    def errors(self) -> list[str]:
        return [f"{output.ename}: {output.evalue}" for output in self.outputs
                if output.output_type == "error"]

    @property
    def result(self) -> str | None:
        """The ``text/plain`` of the cell's execute_result, if it had one."""
        for output in self.outputs:
            if output.output_type == "execute_result":
                return str(output.data.get("text/plain"))
        return None


def run_cells(kernel: str, cells: Sequence[str], folder: Path,
              timeout: int = 180) -> list[CellResult]:
    """Execute ``cells`` in one fresh ``kernel`` with ``folder`` as the notebook's folder.

    Errors do not stop the run (``allow_errors``), so every cell's outputs can be compared.
    """
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    # a kernel on a loaded 2-core machine can take longer than nbclient's default 60 s to start
    client = NotebookClient(notebook, kernel_name=kernel, timeout=timeout, allow_errors=True,
                            startup_timeout=180,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    return [CellResult(cell.source, list(cell.outputs)) for cell in notebook.cells]


def run_both(cells: Sequence[str], stock_folder: Path,
             sandbox_folder: Path) -> list[tuple[CellResult, CellResult]]:
    """The cells under the stock kernel and under the sandbox, paired cell by cell.

    Each kernel gets its own folder so one kernel's writes cannot satisfy the other's reads;
    a test puts the same data files in both.
    """
    stock = run_cells(STOCK, cells, stock_folder)
    sandboxed = run_cells(SANDBOX, cells, sandbox_folder)
    return list(zip(stock, sandboxed, strict=True))


def parity_folders(root: Path, files: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """Fresh notebook folders for ``run_both`` under ``root`` (``stock``, ``sandbox``), each
    holding ``files`` (relative path: text)."""
    pair = (root / "stock", root / "sandbox")
    for folder in pair:
        folder.mkdir(parents=True)
        for name, text in (files or {}).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    return pair
