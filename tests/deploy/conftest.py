"""Helpers for the deployment tests: run the example notebooks with nbclient (a local kernel or
one that a real ``jupyter server`` started), press "stop" in the interrupt demo, and check what
the examples must show."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.utils import ensure_async
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: The cell of examples/refusals.ipynb tagged with this prints PROMPT, then spins until stopped.
INTERRUPT_TAG = "interrupt"
PROMPT = "press stop"


class StopPressingClient(NotebookClient):
    """An nbclient that interrupts the kernel, as the stop button does, once a cell tagged
    ``interrupt`` has printed its prompt (so the interrupt lands while the loop runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interrupts: list[asyncio.Future[Any]] = []

    def process_message(self, msg: dict[str, Any], cell: nbformat.NotebookNode,
                        cell_index: int) -> nbformat.NotebookNode | None:
        if (INTERRUPT_TAG in cell.metadata.get("tags", []) and not self.interrupts
                and msg["msg_type"] == "stream" and PROMPT in msg["content"]["text"]):
            assert self.km is not None
            self.interrupts.append(asyncio.ensure_future(ensure_async(self.km.interrupt_kernel())))
        return super().process_message(msg, cell, cell_index)


def outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}\n")
    return "".join(parts)


def errors(cell: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(o.ename, o.evalue) for o in cell.outputs if o.output_type == "error"]


def cell_starting(notebook: nbformat.NotebookNode, prefix: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(prefix)]
    return cell


def check_tour(notebook: nbformat.NotebookNode) -> None:
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [e for c in code for e in errors(c)] == []
    assert "wasi" in outputs_text(code[0])
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)


def check_refusals(
    notebook: nbformat.NotebookNode, host_folder: Path, memory_limit_mib: int
) -> None:
    """What examples/refusals.ipynb must show, cell by cell; ``host_folder`` is the notebook's
    folder on the host (the sandbox's /workspace)."""
    assert outputs_text(cell_starting(notebook, "import os")).splitlines() == [
        "['tmp', 'usr', 'workspace']", "/workspace"]
    assert errors(cell_starting(notebook, "open('/etc/passwd')"))[0][0] == "FileNotFoundError"
    assert errors(cell_starting(notebook, "open('../"))[0][0] == "FileNotFoundError"
    ename, evalue = errors(cell_starting(notebook, "open('/usr/"))[0]
    assert (ename, "Read-only file system" in evalue) == ("OSError", True)
    assert "only inside the sandbox" in outputs_text(cell_starting(notebook, "from pathlib"))
    assert not (host_folder / "scratch.txt").exists()
    ename, evalue = errors(cell_starting(notebook, "import socket"))[0]
    assert (ename, "SandboxKernel.network" in evalue) == ("PermissionError", True)
    processes = cell_starting(notebook, "import subprocess")
    assert "cat: /etc/passwd: No such file or directory" in outputs_text(processes)
    ename, evalue = errors(processes)[0]
    assert (ename, evalue.endswith("No such file or directory: 'id'")) == (
        "FileNotFoundError", True)
    status = outputs_text(cell_starting(notebook, "%sandbox"))
    assert f"of {memory_limit_mib:,.1f} MiB" in status, status
    bomb = outputs_text(cell_starting(notebook, "hog = []"))
    assert bomb.startswith("MemoryError after "), bomb
    assert int(bomb.split()[2]) <= memory_limit_mib
    (spin,) = [c for c in notebook.cells if INTERRUPT_TAG in c.metadata.get("tags", [])]
    assert [e[0] for e in errors(spin)] == ["KeyboardInterrupt"], outputs_text(spin)
    assert "still here after" in outputs_text(notebook.cells[-1])
    assert "scratch.txt says: only inside the sandbox" in outputs_text(notebook.cells[-1])
