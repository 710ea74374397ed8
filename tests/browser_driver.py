"""Running a node browser driver (tests/security/*.js, tests/hub/hub_isolation_browser.js,
tests/lab/e2e.js) from pytest: the prerequisites (node, Debian's chromium, playwright-core in
labextension/node_modules), the environment every driver reads (CHROMIUM, PLAYWRIGHT_FROM) and
the driver's report, the JSON of its last ``JSB-REPORT <json>`` line.

The browser side they share is tests/browser/chromium.js.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from jupyter_core.paths import jupyter_path

ROOT = Path(__file__).resolve().parent.parent
LABEXTENSION = ROOT / "labextension"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REPORT_PREFIX = "JSB-REPORT "
#: How much of the driver's stdout and stderr a failure shows (the full output goes to ``log``).
TAIL = 4000


def missing_or_skip(reason: str) -> NoReturn:
    """Under CI a missing prerequisite is a failure, elsewhere a skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI cannot run the browser test: {reason}")
    pytest.skip(reason)


def browser_node(*, needs_labextension: bool = False) -> str:
    """The ``node`` executable, once node, chromium and playwright-core are there (and, with
    ``needs_labextension``, the built jupyter-sandbox labextension installed); otherwise a
    skip, or a failure under CI."""
    node = shutil.which("node")
    if node is None:
        missing_or_skip("node is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        missing_or_skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    if not (LABEXTENSION / "node_modules" / "playwright-core").is_dir():
        missing_or_skip(
            "labextension/node_modules has no playwright-core (npm ci in labextension/)")
    if needs_labextension and not any(
            (Path(p) / "jupyter-sandbox" / "package.json").is_file()
            for p in jupyter_path("labextensions")):
        missing_or_skip("the jupyter-sandbox labextension is not installed (pip install .)")
    return node


def run_driver(script: Path, env: dict[str, str], timeout: float, *,
               log: Path | None = None, context: Callable[[], str] | None = None,
               summary: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """Run ``node script`` with ``env`` on top of this process's environment, CHROMIUM and
    PLAYWRIGHT_FROM; its report.

    The whole output is written to ``log`` when given. A driver that exits non-zero, prints no
    report line or is still running after ``timeout`` seconds (it is killed) raises
    AssertionError with ``summary(report)`` when there is a report (what of it says why: a
    long report's tail may not), the tails of its stdout and stderr, then ``context()`` (e.g.
    the tail of the server's log, read at the failure).
    """
    node = browser_node()
    full_env = {**os.environ, "CHROMIUM": CHROMIUM, "PLAYWRIGHT_FROM": str(LABEXTENSION), **env}
    try:
        done = subprocess.run([node, str(script)], env=full_env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        stdout, stderr, status = done.stdout, done.stderr, f"exit status {done.returncode}"
    except subprocess.TimeoutExpired as expired:
        # The partial output of a killed run comes as bytes, whatever text= said.
        stdout, stderr = (_text(expired.stdout), _text(expired.stderr))
        status, done = f"still running after {timeout} s, killed", None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(stdout + stderr)
    lines = [line for line in stdout.splitlines() if line.startswith(REPORT_PREFIX)]
    report: dict[str, Any] | None = json.loads(lines[-1][len(REPORT_PREFIX):]) if lines else None
    if done is None or done.returncode != 0 or report is None:
        where = f"; screenshots in {env['ARTIFACTS']}" if "ARTIFACTS" in env else ""
        saved = f", whole output in {log}" if log is not None else ""
        problem = status + (", no JSB-REPORT line" if report is None else "")
        why = f"{summary(report)}\n" if report is not None and summary is not None else ""
        raise AssertionError(
            f"browser driver {script.name} failed ({problem}{where}{saved}):\n{why}"
            f"--- stdout (tail) ---\n{stdout[-TAIL:]}\n"
            f"--- stderr (tail) ---\n{stderr[-TAIL:]}" + (f"\n{context()}" if context else ""))
    return report


def _text(output: str | bytes | None) -> str:
    """A killed run's partial output as text."""
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""
