"""One error envelope on the wire (``kernel/control_protocol.py``'s ``ErrorBody``): failing
requests of every family, through a real ``jupyter server`` and a real kernel, answer the same
JSON shape — errors the kernel's control endpoint produced (passed on), errors of the kernel API
handlers, of the sandbox service, and of tornado's / jupyter_server's own checks (refused login,
XSRF, unknown method, unknown route). The Python client reads it into its exception."""

from __future__ import annotations

import httpx
import pytest

from jupyter_sandbox.client import SandboxClient, SandboxNotFoundError
from jupyter_sandbox.kernel.control_protocol import socket_path_for

from .conftest import Kernel, Server

ENVELOPE = {"message", "reason", "code", "hint"}


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    """The answer is the envelope, with this status and code, and nothing of a traceback."""
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == ENVELOPE, body
    assert all(isinstance(body[key], str) for key in ENVELOPE), body
    assert body["message"], body
    assert body["code"] == code, body
    assert body["reason"] == httpx.codes.get_reason_phrase(status), body
    assert "Traceback" not in response.text
    return body


def test_errors_of_the_kernels_control_endpoint_pass_through(jupyter_server: Server,
                                                             kernel: Kernel) -> None:
    base = f"sandbox/api/kernels/{kernel.id}/"
    with jupyter_server.client() as http:
        missing = assert_envelope(http.get(base + "files/no/such/file"), 404, "not_found")
        assert "no/such/file" in missing["message"]
        kernel.run("import os; os.makedirs('/workspace/a-folder', exist_ok=True)")
        folder = assert_envelope(http.get(base + "files/a-folder"), 409, "is_a_folder")
        assert "?list" in folder["hint"]
        assert_envelope(http.post(base + "snapshots/not%20a%20name!"), 400, "bad_name")
        assert_envelope(http.delete(base + "previews/9001"), 404, "not_found")


def test_errors_of_the_kernel_api_handlers(jupyter_server: Server, kernel: Kernel) -> None:
    with jupyter_server.client() as http:
        unknown = assert_envelope(http.get("sandbox/api/kernels/no-such-kernel/status"), 404,
                                  "not_found")
        assert "no running sandboxed kernel" in unknown["message"]
        assert "api/kernels" in unknown["hint"]
        assert_envelope(http.get(f"sandbox/api/kernels/{kernel.id}/previews/8000"), 405,
                        "method_not_allowed")
        assert_envelope(http.post(f"sandbox/api/kernels/{kernel.id}/snapshots"), 405,
                        "method_not_allowed")


def test_errors_of_the_sandbox_service(jupyter_server: Server) -> None:
    with jupyter_server.client() as http:
        assert_envelope(http.get("sandbox/api/v1/sandboxes/no-such-sandbox"), 404, "not_found")
        assert_envelope(http.post("sandbox/api/v1/sandboxes", content=b"{"), 400, "bad_request")
        assert_envelope(http.post("sandbox/api/v1/sandboxes", json={"shape": 1}), 400,
                        "bad_request")
    with SandboxClient(jupyter_server.url, jupyter_server.token) as client:
        with pytest.raises(SandboxNotFoundError) as refused:
            client.get_sandbox("no-such-sandbox")
    assert refused.value.code == "not_found" and "no-such-sandbox" in refused.value.message


def test_errors_of_tornado_and_jupyter_server(jupyter_server: Server, kernel: Kernel) -> None:
    status = f"sandbox/api/kernels/{kernel.id}/status"
    with httpx.Client(base_url=jupyter_server.url, timeout=60) as anonymous:
        refused = assert_envelope(anonymous.get(status), 403, "forbidden")
        assert "token" in refused["hint"]
        assert_envelope(anonymous.get("sandbox/api/v1/sandboxes"), 403, "forbidden")
        # No token, no XSRF cookie: jupyter_server's XSRF check refuses it before any handler.
        assert_envelope(anonymous.post(f"sandbox/api/kernels/{kernel.id}/snapshots/x"), 403,
                        "forbidden")
    with jupyter_server.client() as http:
        assert_envelope(http.patch(status), 405, "method_not_allowed")
        assert_envelope(http.request("PROPFIND", status), 405, "method_not_allowed")
        for unknown in ("sandbox/api/no/such/route", "sandbox/api/v1/no-such-route",
                        f"sandbox/api/kernels/{kernel.id}/no-such-route"):
            assert_envelope(http.get(unknown), 404, "not_found")
            assert_envelope(http.delete(unknown), 404, "not_found")


def test_the_kernels_control_socket_answers_the_same_envelope(jupyter_server: Server,
                                                             kernel: Kernel) -> None:
    """What the server passes on is what the kernel wrote: the envelope, on the socket too."""
    sock = socket_path_for(jupyter_server.runtime_dir / f"kernel-{kernel.id}.json")
    transport = httpx.HTTPTransport(uds=str(sock))
    with httpx.Client(transport=transport, base_url="http://kernel", timeout=60) as control:
        assert_envelope(control.get("/no-such-route"), 404, "not_found")
        assert_envelope(control.post("/exec", content=b"not json"), 400, "bad_request")
        assert_envelope(control.post("/packages", json={"action": "reinstall"}), 400,
                        "bad_request")
        assert_envelope(control.put("/snapshot", content=b"not a snapshot"), 400,
                        "bad_snapshot")
        assert_envelope(control.delete("/snapshots/x/restore"), 405, "method_not_allowed")
