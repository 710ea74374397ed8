"""A real Sandboxed Python kernel for the snapshot attack tests, started through jupyter_client
with its own Jupyter data dir (so its own snapshot key), snapshot folder and limits, and its log
(stderr) kept in a file the test can read."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

TIMEOUT = 120


@dataclass
class KernelRun:
    manager: KernelManager
    client: BlockingKernelClient
    data_dir: Path
    snapshot_dir: Path
    log_file: Path

    @property
    def key_file(self) -> Path:
        return self.data_dir / "sandbox" / "snapshot.key"

    @property
    def pid(self) -> int:
        provisioner = self.manager.provisioner
        if provisioner is None:
            raise RuntimeError("the kernel is not running")
        return int(provisioner.pid)

    def execute(self, code: str) -> tuple[dict, list[dict]]:
        """Run ``code``; its execute_reply content and its output messages."""
        outputs: list[dict] = []
        reply = self.client.execute_interactive(code, timeout=TIMEOUT,
                                                output_hook=outputs.append)
        return reply["content"], outputs

    def stdout(self, code: str) -> str:
        reply, outputs = self.execute(code)
        assert reply["status"] == "ok", reply
        return text(outputs)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


def text(outputs: list[dict], name: str | None = None) -> str:
    return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"
                   and (name is None or m["content"]["name"] == name))


@contextlib.contextmanager
def sandbox_kernel(base: Path, *arguments: str, env: dict[str, str] | None = None,
                   cwd: Path | None = None) -> Iterator[KernelRun]:
    data_dir, snapshot_dir = base / "jupyter-data", base / "named-snapshots"
    data_dir.mkdir(exist_ok=True)
    snapshot_dir.mkdir(exist_ok=True)
    work = cwd or base / "notebook-folder"
    work.mkdir(exist_ok=True)
    log_file = base / "kernel.log"
    manager = KernelManager(kernel_name="sandboxed-python")
    kernel_env = {**os.environ, "JUPYTER_DATA_DIR": str(data_dir), **(env or {})}
    with open(log_file, "wb") as log:
        manager.start_kernel(env=kernel_env, cwd=str(work), stderr=log, stdout=log,
                             extra_arguments=[f"--SandboxKernel.snapshot_dir={snapshot_dir}",
                                              *arguments])
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=TIMEOUT)
        yield KernelRun(manager, client, data_dir, snapshot_dir, log_file)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
