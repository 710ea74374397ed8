"""Network through a real Sandboxed Python kernel (issue 16): the kernel's network traits reach
the broker. With c.SandboxKernel.network = True and the test server's address allowed,
urllib, pandas.read_csv and requests (from a local wheel folder) read it; other local ports
and ``localhost`` elsewhere are refused; a read from a server that never answers is ended by
an interrupt and by the cell time limit, and the kernel goes on. With the defaults, sockets
say the administrator has not enabled the network."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from tests.conftest import kernel_cell
from tests.network_servers import HttpServer, SilentServer, wheel_folder

TIMEOUT = 120


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[HttpServer, HttpServer, SilentServer]]:
    with HttpServer() as allowed, HttpServer() as internal, SilentServer() as silent:
        yield allowed, internal, silent


def _start(folder: Path, config: Path, traits: str) -> tuple[KernelManager, BlockingKernelClient]:
    """Start a kernel with ``traits``; its stderr (the kernel's log) goes to config/kernel.log."""
    (config / "jupyter_sandbox_kernel_config.py").write_text(traits)
    with open(config / "kernel.log", "wb") as log:  # the child keeps its own descriptor
        return start_new_kernel(kernel_name="sandboxed-python", cwd=str(folder), stderr=log,
                                env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)})


@pytest.fixture(scope="module")
def kernel(tmp_path_factory, servers) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    allowed, _, silent = servers
    folder = tmp_path_factory.mktemp("notebook")
    wheel_folder(folder / "wheels")
    config = tmp_path_factory.mktemp("config")
    km, kc = _start(folder, config,
                    "c.SandboxKernel.network = True\n"
                    f"c.SandboxKernel.network_allow = ['127.0.0.1:{allowed.port}', "
                    f"'127.0.0.1:{silent.port}']\n"
                    "c.SandboxKernel.cell_timeout = 20.0\n")
    km.log_path = config / "kernel.log"  # type: ignore[attr-defined]
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _execute(kc: BlockingKernelClient, code: str) -> tuple[dict, str]:
    return kernel_cell(kc, code, TIMEOUT, "stdout")


def _ok(kc: BlockingKernelClient, code: str) -> str:
    content, text = _execute(kc, code)
    assert content["status"] == "ok", (content.get("ename"), content.get("evalue"))
    return text


def test_allowed_server_through_urllib_pandas_and_requests(kernel, servers):
    _, kc = kernel
    allowed = servers[0]
    out = _ok(kc, f"""
import urllib.request, pandas
print(urllib.request.urlopen({allowed.url('/k')!r}).read())
print(pandas.read_csv({allowed.url('/data.csv')!r}).shape)
""")
    assert "b'hello from /k'" in out and "(3, 2)" in out
    out = _ok(kc, "%pip install --no-index -f wheels requests")
    assert "Successfully installed" in out
    out = _ok(kc, f"import requests\nprint(requests.get({allowed.url('/r')!r}).text)")
    assert "hello from /r" in out


def test_other_local_ports_and_localhost_are_refused(kernel, servers):
    _, kc = kernel
    allowed, internal, _ = servers
    out = _ok(kc, f"""
import urllib.request
for url in ({internal.url('/secret')!r}, 'http://localhost:{internal.port}/secret',
            {allowed.url('/redirect?to=' + internal.url('/secret'))!r}):
    try:
        urllib.request.urlopen(url, timeout=10)
    except OSError as e:
        print('refused' if isinstance(e.reason, PermissionError) else 'error', e.reason)
""")
    assert out.count("refused the sandbox's network policy refused") == 3, out
    assert internal.hits["/secret"] == 0
    assert allowed.hits["/redirect"] == 1


def test_a_silent_server_is_ended_by_interrupt_and_by_the_time_limit(kernel, servers):
    km, kc = kernel
    silent = servers[2]
    msg_id = kc.execute(f"import socket\ns = socket.create_connection(('127.0.0.1', "
                        f"{silent.port}))\nprint('connected', flush=True)\ns.recv(1)")
    while True:  # wait until the cell has connected and is about to read
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    content, _ = _execute(kc, "s.recv(1)")  # the time limit (20 s) ends this one
    assert content["ename"] == "TimeoutError", content
    assert "42" in _ok(kc, "s.close()\nprint(6 * 7)")


def test_the_default_kernel_has_no_network(tmp_path, servers):
    allowed = servers[0]
    config = tmp_path / "config"
    config.mkdir()
    km, kc = _start(tmp_path, config, "")
    try:
        content, out = _execute(kc, f"""
import socket, urllib.request
try:
    socket.socket()
except PermissionError as e:
    print(e)
urllib.request.urlopen({allowed.url('/off')!r})
""")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "the administrator has not enabled it" in out and "SandboxKernel.network" in out
    assert content["ename"] == "URLError" and "network access is off" in content["evalue"]
    assert allowed.hits["/off"] == 0


def test_the_kernel_log_lists_each_attempt(kernel, servers):
    km, kc = kernel
    allowed, internal, _ = servers
    _ok(kc, f"""
import urllib.request
urllib.request.urlopen({allowed.url('/logged')!r}).read()
try:
    urllib.request.urlopen({internal.url('/logged')!r})
except OSError:
    pass
""")
    log_path: Path = km.log_path  # type: ignore[attr-defined]
    wanted = (f"connected to 127.0.0.1 (127.0.0.1) port {allowed.port}",
              f"closed connection to 127.0.0.1 (127.0.0.1) port {allowed.port}: sent",
              f"refused 127.0.0.1 port {internal.port}: no allow rule matches")
    deadline = time.monotonic() + TIMEOUT
    while not all(line in log_path.read_text() for line in wanted):
        assert time.monotonic() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.05)
