"""The ``_host.call`` router of a process's guest instance (the notebook's is
``sandbox/guest_calls.py``). Runs on the process's own thread, inside its turn.

* ``process_start`` → ``ProcessStartAnswer``: what to run (kind, argv, env, cwd), asked once
  by ``process_main``;
* ``process_exit`` (``status``) → ``{}``: the program's exit status;
* ``pip`` (``action``, ``args``, ``cwd``): the sandbox's host-side ``%pip`` machinery, same
  policy (``pip install`` as a program; never a host process running sandbox input);
* ``proc_*``: the process starts and drives processes of its own (``guest_ops.py``);
* ``message``: Jupyter output from a process (``display()`` in a script) has no cell: dropped;
* ``interrupt_reason``: a process's SIGINT is always an interrupt;
* network calls (binary, ``protocol.NET_CALL_PREFIX``, sockets of a ``!python`` child): the
  sandbox's own broker, so a process has the notebook's network policy, limits and audit
  (bytes count for the sandbox, not a cell); its waits are cut by the process's wake-up,
  and the connections it opened are closed when it ends (a killed child leaves none open).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from typing import TYPE_CHECKING, Any, cast

from .. import protocol
from ..errors import PackageError
from ..network.broker import NetworkBroker
from ..network.connection import Connection
from ..network.router import NetworkRouter
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
        self._connections = _ProcessConnections(table._sandbox.network)
        self._network = NetworkRouter(cast(NetworkBroker, self._connections), self._wakeup)

    def _wakeup(self) -> threading.Event:
        """The process's wake-up (interrupt, kill) for a blocking network wait."""
        event = self.caller().wakeup() if self.process is not None else None
        return event if event is not None else threading.Event()

    def on_call(self, raw: bytes) -> bytes | memoryview:
        if raw[:1] == protocol.NET_CALL_PREFIX:  # sockets: binary, see protocol.py
            if self.process is not None and self._connections.owner is not self.process:
                self._connections.owner = self.process
                self.process.on_end(lambda _process: self._connections.close_all())
            return self._network.on_call(raw, None)
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


class _ProcessConnections:
    """The sandbox's broker as one process uses it: remembers the connections the process
    opened (and has not closed), so that they are closed when it ends."""

    def __init__(self, broker: NetworkBroker) -> None:
        self._broker = broker
        self._open: set[int] = set()
        self._lock = threading.Lock()
        self.owner: Process | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        opened = self._broker.connect(*args, **kwargs)
        if isinstance(opened, Connection):
            with self._lock:
                self._open.add(opened.id)
        return opened

    def close(self, conn_id: int) -> None:
        with self._lock:
            self._open.discard(conn_id)
        self._broker.close(conn_id)

    def close_all(self) -> None:
        with self._lock:
            ids, self._open = self._open, set()
        for conn_id in ids:
            self._broker.close(conn_id)


def _error(text: str) -> bytes:
    answer: ErrorAnswer = {"error": text}
    return protocol.encode(answer)
