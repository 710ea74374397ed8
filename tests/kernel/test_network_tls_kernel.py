"""TLS and injected headers through a real Sandboxed Python kernel (issue 16 items 2 and 3): the
administrator's traits ``network_ca_bundle`` and ``network_inject_headers`` reach the host's TLS
and the request rewriter. An https request to the local test server verifies against the CA
file and carries the injected header, which is in neither the cell's output, ``%sandbox`` nor
the kernel's log."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from tests.tls_servers import HttpsServer, TestCA

TIMEOUT = 120
SECRET = "Bearer kernel-trait-9d2b51-secret"


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[tuple[HttpsServer, BlockingKernelClient, str]]:
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    with HttpsServer(ca.server_context("127.0.0.1"), hostname="127.0.0.1") as server:
        config = tmp_path_factory.mktemp("config")
        rule = f"127.0.0.1:{server.port}"
        (config / "jupyter_sandbox_kernel_config.py").write_text(
            "c.SandboxKernel.network = True\n"
            f"c.SandboxKernel.network_allow = [{rule!r}]\n"
            f"c.SandboxKernel.network_ca_bundle = {str(ca.pem)!r}\n"
            f"c.SandboxKernel.network_inject_headers = {{{rule!r}: "
            f"{{'X-Api-Key': {SECRET!r}}}}}\n")
        log_path = config / "kernel.log"
        with open(log_path, "wb") as log:
            km: KernelManager
            km, kc = start_new_kernel(
                kernel_name="sandboxed-python", cwd=str(tmp_path_factory.mktemp("nb")),
                stderr=log, env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)})
        try:
            yield server, kc, str(log_path)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def _ok(kc: BlockingKernelClient, code: str) -> str:
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, output_hook=outputs.append, timeout=TIMEOUT)
    assert reply["content"]["status"] == "ok", reply["content"].get("evalue")
    return "".join(m["content"].get("text", "") + str(m["content"].get("data", ""))
                   for m in outputs if m["msg_type"] in ("stream", "display_data",
                                                         "execute_result"))


def test_https_verifies_with_the_trait_ca_and_carries_the_injected_header(setup):
    server, kc, log_path = setup
    out = _ok(kc, f"""
import urllib.request
with urllib.request.urlopen({server.url('/k')!r}, timeout=30) as r:
    print(r.status, r.read())
""")
    assert "200 b'hello from /k'" in out
    assert [h.get("X-Api-Key") for _, p, h in server.seen if p == "/k"] == [SECRET]
    shown = _ok(kc, "%sandbox network")
    assert "TLS" in shown and "kernel-trait-9d2b51" not in shown
    with open(log_path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    assert "TLS to" in text or "connected to" in text  # the kernel logs the attempt
    assert "kernel-trait-9d2b51" not in text
