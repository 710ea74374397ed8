"""The JupyterLab extension's TypeScript unit tests (vitest, in labextension/test/) and its
type check, run from pytest so that ``make test`` and CI fail when they do. Needs node and
``labextension/node_modules`` (``npm ci`` in labextension/, or ``pip install .``, which runs
npm install): skipped without them, except under CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"


def _node_tool(name: str) -> list[str]:
    if shutil.which("node") is None or not (LABEXTENSION / "node_modules" / ".bin" / name).exists():
        reason = (f"node or labextension/node_modules/.bin/{name} is missing"
                  " (npm ci in labextension/)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return [str(LABEXTENSION / "node_modules" / ".bin" / name)]


def test_vitest_unit_tests() -> None:
    result = subprocess.run([*_node_tool("vitest"), "run"], cwd=LABEXTENSION,
                            capture_output=True, text=True, timeout=240,
                            env={**os.environ, "CI": "true", "NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_typescript_type_check() -> None:
    result = subprocess.run([*_node_tool("tsc"), "--noEmit", "-p", "."], cwd=LABEXTENSION,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
