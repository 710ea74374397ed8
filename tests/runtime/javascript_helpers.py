"""Run ``node`` (runtime/javascript's ``run_javascript``) over a sandbox's VFS and collect what it
printed: shared by tests/runtime/test_javascript.py and tests/security/test_javascript_limits.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from jupyter_sandbox.runtime.javascript import JavaScriptLimits, run_javascript
from jupyter_sandbox.runtime.vfs import VirtualFS


@dataclass
class NodeResult:
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode()

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


def node(vfs: VirtualFS, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None,
         cwd: str = "/workspace", limits: JavaScriptLimits | None = None,
         cancel: threading.Event | None = None) -> NodeResult:
    """``node ARGS…`` in the sandbox whose filesystem is ``vfs``."""
    pending = [stdin]
    out: list[tuple[str, bytes]] = []

    def read() -> bytes:
        data, pending[0] = pending[0], b""
        return data

    status = run_javascript(argv=["node", *args], env=env or {}, cwd=cwd, vfs=vfs, stdin=read,
                            write=lambda stream, data: out.append((stream, data)),
                            limits=limits or JavaScriptLimits(),
                            cancel=cancel or threading.Event())
    return NodeResult(status, b"".join(d for s, d in out if s == "stdout"),
                      b"".join(d for s, d in out if s == "stderr"))


def node_in_thread(vfs: VirtualFS, *args: str, **kwargs: object
                   ) -> tuple[threading.Thread, list[NodeResult]]:
    """Start ``node`` on its own thread (as the process table does); the result list gets one
    item when it ends."""
    results: list[NodeResult] = []
    thread = threading.Thread(target=lambda: results.append(node(vfs, *args, **kwargs)),  # type: ignore[arg-type]
                              daemon=True)
    thread.start()
    return thread, results
