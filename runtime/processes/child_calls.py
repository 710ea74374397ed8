"""The ``_host.call`` router of a process's guest instance (the notebook's is
``sandbox/guest_calls.py``). Runs on the process's own thread, inside its turn.

* ``process_start`` → ``ProcessStartAnswer``: what to run (kind, argv, env, cwd), asked once
  by ``process_main``;
* ``process_exit`` (``status``) → ``{}``: the program's exit status;
* ``pip`` (``action``, ``args``, ``cwd``): the sandbox's host-side ``%pip`` machinery, same
  policy (``pip install`` as a program; never a host process running sandbox input);
* ``proc_*``: the process starts and drives processes of its own (``guest_ops.py``);
* ``message``: Jupyter output from a process (``display()`` in a script) has no cell: dropped;
* ``interrupt_reason``: a process's SIGINT is always an interrupt.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from typing import TYPE_CHECKING

from .. import protocol
from ..errors import PackageError
from ..packages import USER_SITE_GUEST_PATH
from ..protocol import ErrorAnswer

if TYPE_CHECKING:
    from .guest_ops import Caller
    from .process import Process
    from .table import ProcessTable

log = logging.getLogger("jupyter_sandbox.processes")
#: One pip at a time among a sandbox's processes (they share the site layer).
_pip_lock = threading.Lock()


class ChildCalls:
    """Answers one process instance's host calls; ``process`` is set at hand-over."""

    def __init__(self, table: ProcessTable) -> None:
        self._table = table
        self.process: Process | None = None
        self._caller: Caller | None = None

    def on_call(self, raw: bytes) -> bytes:
        request = protocol.decode(raw)
        if not isinstance(request, dict):
            return _error("a request must be a JSON object")
        op = request.get("op")
        process = self.process
        if process is None:
            return _error("this process has not started yet")
        if op == "process_start":
            return protocol.encode(self._table.start_answer(process))
        if op == "process_exit":
            status = request.get("status")
            if isinstance(status, int) and not isinstance(status, bool):
                process.reported_status = status
            return b"{}"
        if isinstance(op, str) and op.startswith("proc_"):
            return protocol.encode(self._table.guest_ops.handle(request, self.caller()))
        if op == "pip":
            return protocol.encode(self._pip(process, request))
        if op == "message":
            return b"{}"
        if op == "interrupt_reason":
            return protocol.encode({"reason": "interrupt"})
        return _error(f"unknown op {op!r} for a sandbox process")

    def caller(self) -> Caller:
        from .guest_ops import ProcessCaller

        if self._caller is None:
            assert self.process is not None  # noqa: S101 - checked by on_call
            self._caller = ProcessCaller(self.process, self._table)
        return self._caller

    def _pip(self, process: Process, request: dict[str, object]) -> dict[str, object]:
        action = str(request.get("action"))
        raw_args = request.get("args")
        args = [str(a) for a in raw_args] if isinstance(raw_args, list) else []
        packages = self._table.packages()
        try:
            with _pip_lock:
                if action == "list":
                    return {"packages": [d.to_json() for d in packages.list()],
                            "site": USER_SITE_GUEST_PATH}
                if action == "uninstall":
                    return {"lines": packages.uninstall(args)}
                if action == "install":
                    cwd = str(request.get("cwd") or process.cwd)
                    lines = packages.install(
                        args, cwd, lambda line: process.write("stdout", f"{line}\n".encode()),
                        process.cancel.is_set)
                    return {"lines": lines, "site": USER_SITE_GUEST_PATH}
        except PackageError as exc:
            return {"error": str(exc)}
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            return {"error": f"pip {action} failed on the host: {exc}"}
        return {"error": f"unknown pip command {action!r}: use install, uninstall or list"}


def _error(text: str) -> bytes:
    answer: ErrorAnswer = {"error": text}
    return protocol.encode(answer)
