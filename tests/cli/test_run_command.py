"""``jupyter-sandbox run`` on notebooks and scripts, as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "jupyter_sandbox.cli"]


def test_run_notebook_writes_outputs_and_shows_progress(tmp_path):
    shutil.copy(ROOT / "tests" / "files" / "parameterised.ipynb", tmp_path / "nb.ipynb")
    done = subprocess.run(
        [*CLI, "run", str(tmp_path / "nb.ipynb"), "-o", str(tmp_path / "out.ipynb")],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "[1/2]" in done.stderr and "[2/2]" in done.stderr
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0].text == "default 3\n"


def test_run_notebook_fails_with_the_failing_cell(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x = 1"),
                      nbformat.v4.new_code_cell("raise RuntimeError('broken cell')")]
    nbformat.write(notebook, tmp_path / "bad.ipynb")
    done = subprocess.run([*CLI, "run", str(tmp_path / "bad.ipynb")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    assert "broken cell" in done.stderr and "A cell failed" in done.stderr


def test_run_script_prints_output_and_exit_status(tmp_path):
    (tmp_path / "ok.py").write_text("import sys\nprint('hello from', sys.platform)\n")
    done = subprocess.run([*CLI, "run", str(tmp_path / "ok.py")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello from wasi\n"
    (tmp_path / "bad.py").write_text("open('/etc/passwd')\n")
    done = subprocess.run([*CLI, "run", str(tmp_path / "bad.py")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    assert "FileNotFoundError" in done.stderr


def test_run_missing_file_is_a_usage_error(tmp_path):
    done = subprocess.run([*CLI, "run", str(tmp_path / "nope.ipynb")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "no such file" in done.stderr
