"""``GET {base_url}sandbox/api/kernels/{kernel_id}/status``: what the JupyterLab extension's
side panel and status bar poll."""

from __future__ import annotations

import httpx

from .conftest import Kernel, Server, attach_kernel, stop_kernel


def test_status_of_a_sandboxed_kernel(jupyter_server: Server, kernel: Kernel) -> None:
    kernel.run("data = bytearray(32 << 20)\nopen('/workspace/f.txt', 'w').write('x' * 1000)")
    with jupyter_server.client() as http:
        response = http.get(f"sandbox/api/kernels/{kernel.id}/status")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    status = response.json()
    assert status["kernel_id"] == kernel.id
    assert status["limits"]["memory_bytes"] > 0
    assert status["usage"]["memory_bytes"] >= 32 << 20
    assert status["usage"]["workspace_bytes"] >= 1000
    assert {"path": "/workspace", "writable": True}.items() <= next(
        m for m in status["mounts"] if m["path"] == "/workspace").items()
    assert status["execution_count"] >= 1


def test_status_errors_and_auth(jupyter_server: Server, kernel: Kernel) -> None:
    with jupyter_server.client() as http:
        missing = http.get("sandbox/api/kernels/no-such-kernel/status")
    assert missing.status_code == 404
    assert "no running sandboxed kernel" in missing.json()["message"]
    with httpx.Client(base_url=jupyter_server.url, timeout=60) as anonymous:
        assert anonymous.get(f"sandbox/api/kernels/{kernel.id}/status").status_code == 403


def test_status_right_after_the_kernel_starts(jupyter_server: Server) -> None:
    """The front end may ask as soon as the kernel answers, before its control socket
    listens: the route waits for the socket rather than answering 404."""
    with jupyter_server.client() as http:
        started = http.post("api/kernels", json={"name": "sandboxed-python", "path": ""})
        started.raise_for_status()
        kernel_id = started.json()["id"]
        try:
            response = http.get(f"sandbox/api/kernels/{kernel_id}/status")
            assert response.status_code == 200, response.text
            assert response.json()["kernel_id"] == kernel_id
        finally:
            stop_kernel(attach_kernel(jupyter_server, kernel_id))
