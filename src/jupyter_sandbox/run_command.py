"""``jupyter-sandbox run``: execute a notebook (through nbclient and the sandboxed-python
kernel) or a Python script (in a sandbox in this process), headless, with progress per cell.

Exit codes: 0 success, 1 a cell or the script failed (the failing cell is shown), 2 bad usage.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

KERNEL_NAME = "sandboxed-python"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_notebook(source: Path, output: Path | None, timeout: float | None,
                 allow_errors: bool) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(source, as_version=4)
    code_cells = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    started = time.monotonic()

    def on_start(cell: Any, cell_index: int, **_kw: Any) -> None:
        position = code_cells.index(cell_index) + 1 if cell_index in code_cells else 0
        first_line = (cell.source.strip().splitlines() or [""])[0][:60]
        _say(f"[{position}/{len(code_cells)}] {first_line}")

    client = NotebookClient(notebook, kernel_name=KERNEL_NAME, timeout=timeout,
                            allow_errors=allow_errors, on_cell_start=on_start,
                            resources={"metadata": {"path": str(source.parent.resolve())}})
    status = 0
    try:
        client.execute()
    except CellExecutionError as exc:
        _say(f"\nA cell failed:\n{exc}")
        status = 1
    finally:
        if output is not None:
            nbformat.write(notebook, output)
            _say(f"wrote {output}")
    _say(f"{'failed' if status else 'done'} in {time.monotonic() - started:.1f}s")
    return status


def run_script(source: Path, timeout: float | None) -> int:
    from .runtime.config import HostFolderMode, Limits, SandboxConfig
    from .runtime.sandbox import Message, Sandbox

    def show(message: Message) -> None:
        content = message["content"]
        if message["msg_type"] == "stream":
            stream = sys.stdout if content["name"] == "stdout" else sys.stderr
            stream.write(content["text"])
            stream.flush()
        elif message["msg_type"] == "error":
            sys.stderr.write("\n".join(content["traceback"]) + "\n")
        elif message["msg_type"] in ("execute_result", "display_data"):
            text = content.get("data", {}).get("text/plain")
            if text:
                print(text)

    config = SandboxConfig(limits=Limits(cell_timeout=timeout),
                           host_folder=source.parent.resolve(),
                           host_folder_mode=HostFolderMode.OVERLAY)
    code = source.read_text()
    with Sandbox(config) as sandbox:
        reply = sandbox.execute(code, show, store_history=False)
    return 0 if reply.status == "ok" else 1


def run(target: str, output: str | None, timeout: float | None, allow_errors: bool) -> int:
    path = Path(target)
    if not path.is_file():
        _say(f"no such file: {target}")
        return 2
    if path.suffix == ".ipynb":
        return run_notebook(path, Path(output) if output else None, timeout, allow_errors)
    if output:
        _say("-o/--output applies to notebooks only")
        return 2
    return run_script(path, timeout)
