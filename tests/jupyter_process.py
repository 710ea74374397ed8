"""Starting a real ``jupyter server`` / ``jupyter lab`` for the tests: a free loopback port, a
fresh token, as root (``--allow-root``), ready once it logs that it is running."""

from __future__ import annotations

import contextlib
import queue
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Running:
    url: str  # ends with "/"
    token: str
    log_lines: list[str]


@contextlib.contextmanager
def jupyter_process(command: Sequence[str], *, root: Path, env: dict[str, str],
                    cwd: Path | None = None,
                    startup_timeout: float = STARTUP_TIMEOUT) -> Iterator[Running]:
    """Run ``command`` (``[..., "jupyter", "server"]`` or ``"lab"``) serving ``root``; stop it
    on exit. Fails with the server's log when it does not come up."""
    token, port = secrets.token_hex(16), free_port()
    process = subprocess.Popen(
        [*command, "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready: queue.Queue[bool] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "is running at" in line:
                ready.put(True)
        ready.put(False)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.get(timeout=startup_timeout):
            raise RuntimeError(f"{' '.join(command[-2:])} did not start:\n" + "".join(lines))
        yield Running(f"http://127.0.0.1:{port}/", token, lines)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=30)
        assert process.stderr is not None
        process.stderr.close()
