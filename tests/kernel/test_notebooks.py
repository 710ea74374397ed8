"""Whole notebooks through nbclient and papermill with the sandboxed-python kernel, compared
with the stock python3 kernel where outputs do not depend on the machine."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "tests" / "files"


class AnsweringClient(NotebookClient):
    """An nbclient that allows stdin and answers every input_request with ``answer``."""

    answer = "sandbox"

    async def async_start_new_kernel_client(self) -> Any:
        client = await super().async_start_new_kernel_client()
        client.allow_stdin = True
        self._answering = asyncio.ensure_future(self._answer_inputs())
        return client

    async def _answer_inputs(self) -> None:
        while True:
            message = await self.kc.stdin_channel.get_msg()
            if message["msg_type"] == "input_request":
                self.kc.input(self.answer)

    async def _async_cleanup_kernel(self) -> None:
        self._answering.cancel()
        await super()._async_cleanup_kernel()


def _run(path: Path, kernel: str, cwd: Path, **options: Any) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    options.setdefault("timeout", 120)
    client = AnsweringClient(notebook, kernel_name=kernel,
                             resources={"metadata": {"path": str(cwd)}}, **options)
    client.execute()
    return notebook


def _outputs(cell: nbformat.NotebookNode) -> list[str]:
    """Each output's text; consecutive stream chunks are joined, since how a kernel batches
    a stream into messages depends on timing."""
    texts: list[str] = []
    previous = None
    for output in cell.outputs:
        if output.output_type == "stream":
            if previous is not None and previous.output_type == "stream":
                texts[-1] += output.text
            else:
                texts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            texts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            texts.append(f"{output.ename}: {output.evalue}")
        previous = output
    return texts


def _tagged(notebook: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in notebook.cells if tag in c.metadata.get("tags", [])]


def test_examples_tour_runs_without_errors(tmp_path):
    shutil.copy(ROOT / "examples" / "tour.ipynb", tmp_path)
    notebook = _run(tmp_path / "tour.ipynb", "sandboxed-python", tmp_path)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors == []
    assert any("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code"
               for o in c.outputs)
    refusals = "".join(_outputs(notebook.cells[-3]))
    assert "FileNotFoundError" in refusals and "subprocess" in refusals


def test_same_text_outputs_as_stock_python_kernel(tmp_path):
    ours = _run(FILES / "portable.ipynb", "sandboxed-python", tmp_path)
    stock = _run(FILES / "portable.ipynb", "python3", tmp_path)
    pairs = zip(_tagged(ours, "portable"), _tagged(stock, "portable"), strict=True)
    for sandboxed, native in pairs:
        assert _outputs(sandboxed) == _outputs(native), sandboxed.source


def test_rich_outputs_stdin_timeit_and_errors(tmp_path):
    notebook = _run(FILES / "portable.ipynb", "sandboxed-python", tmp_path)
    (html,) = _tagged(notebook, "html")
    assert "<table" in html.outputs[0].data["text/html"]
    (png,) = _tagged(notebook, "png")
    assert any(o.get("data", {}).get("image/png") for o in png.outputs)
    (timeit,) = _tagged(notebook, "timeit")
    assert "per loop" in "".join(_outputs(timeit))
    (stdin,) = _tagged(notebook, "stdin")
    assert "hi sandbox\n" in "".join(_outputs(stdin))
    (error,) = _tagged(notebook, "raises-exception")
    assert _outputs(error) == ["ValueError: expected"]


def test_papermill_parameterised_notebook(tmp_path):
    import papermill

    output = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(FILES / "parameterised.ipynb"), str(output),
                               parameters={"rows": 7, "label": "injected"},
                               kernel_name="sandboxed-python", cwd=str(tmp_path),
                               progress_bar=False)
    executed = nbformat.read(output, as_version=4)
    assert "injected 7\n" in "".join(_outputs(executed.cells[-1]))


def _endless_loop_timeout(cell: nbformat.NotebookNode) -> int:
    """nbclient's per-cell timeout (it passes the cell, whatever its docs say)."""
    return 5 if cell.source.startswith("while True") else 120


def test_escape_attempts_fail_cleanly_and_host_is_untouched(tmp_path):
    host_file = tmp_path / "host_file.txt"
    host_file.write_text("original on the host")
    # Only the endless loop is stopped by nbclient's timeout; the other cells get as long as a
    # loaded machine needs (the memory hog must end in MemoryError, not in that interrupt).
    notebook = _run(FILES / "escapes.ipynb", "sandboxed-python", tmp_path,
                    timeout_func=_endless_loop_timeout, interrupt_on_timeout=True,
                    allow_errors=True)
    outputs = [" | ".join(_outputs(cell)) for cell in notebook.cells]
    assert outputs[0].startswith("FileNotFoundError")
    assert outputs[1].startswith("FileNotFoundError")
    assert "changed inside the sandbox" in outputs[2]
    assert host_file.read_text() == "original on the host"
    assert "Error" in outputs[3]
    assert "Error" in outputs[4]
    assert outputs[5].startswith("MemoryError")
    assert outputs[6].startswith("KeyboardInterrupt")
    assert outputs[7] == "kernel still alive\n"
