"""``GET/PUT {base_url}sandbox/api/kernels/{kernel_id}/files/{path}``: the workspace files the
JupyterLab side panel browses, downloads and uploads."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import httpx
import pytest

from .conftest import Kernel, Server, running_server, short_temp_dir, start_kernel, stop_kernel


def test_list_download_upload(jupyter_server: Server, kernel: Kernel) -> None:
    kernel.run("import os\nos.makedirs('/workspace/data', exist_ok=True)\n"
               "open('/workspace/data/a b.txt', 'w').write('from the kernel')")
    base = f"sandbox/api/kernels/{kernel.id}/files/"
    with jupyter_server.client() as http:
        root = http.get(base + "?list")
        assert root.status_code == 200, root.text
        assert root.json()["path"] == "/workspace"
        assert "data" in [entry["name"] for entry in root.json()["files"]]
        folder = http.get(base + "data?list").json()
        assert [(e["name"], e["size"]) for e in folder["files"]] == [("a b.txt", 15)]

        download = http.get(base + "data/a%20b.txt")
        assert download.status_code == 200
        assert download.content == b"from the kernel"
        assert download.headers["Content-Type"] == "application/octet-stream"
        assert "attachment" in download.headers["Content-Disposition"]

        payload = bytes(range(256)) * 1000
        upload = http.put(base + "up/loaded.bin", content=payload)
        assert upload.status_code == 201, upload.text
        assert upload.json()["size"] == len(payload)
        assert http.get(base + "up/loaded.bin").content == payload
    assert kernel.stdout("print(len(open('/workspace/up/loaded.bin', 'rb').read()))").strip() \
        == str(len(payload))


def test_file_errors_and_auth(jupyter_server: Server, kernel: Kernel) -> None:
    base = f"sandbox/api/kernels/{kernel.id}/files/"
    with jupyter_server.client() as http:
        missing = http.get(base + "no/such/file")
        assert missing.status_code == 404
        assert "message" in missing.json()
        kernel.run("import os; os.makedirs('/workspace/folder', exist_ok=True)")
        assert http.get(base + "folder").status_code == 409
        assert http.put(base + "folder", content=b"x").status_code == 409
        # ``..`` is resolved inside the guest's filesystem (``..`` at its root stays at its root,
        # runtime/vfs.normalize), so this names the guest's /etc/passwd, which it has none of:
        # 404, never the host's file. The same dot segments reach a guest file that exists.
        escape = http.get(base + "..%2F..%2Fetc%2Fpasswd")
        assert escape.status_code == 404, escape.text
        assert escape.json()["code"] == "not_found"
        assert "root:" not in escape.text
        kernel.run("open('/workspace/folder/inside.txt', 'w').write('guest file')")
        inside = http.get(base + "..%2F..%2F..%2Fworkspace%2Ffolder%2Finside.txt")
        assert inside.status_code == 200, inside.text
        assert inside.content == b"guest file"
        assert http.get("sandbox/api/kernels/no-such-kernel/files/?list").status_code == 404
    with httpx.Client(base_url=jupyter_server.url, timeout=60) as anonymous:
        assert anonymous.get(base + "?list").status_code == 403
        assert anonymous.put(base + "x.txt", content=b"x").status_code == 403
    assert "False" in kernel.stdout("import os; print(os.path.exists('/workspace/x.txt'))")


@pytest.fixture(scope="module")
def small_upload_server() -> Iterator[Server]:
    base = short_temp_dir()
    (base / "cfg").mkdir()
    (base / "cfg" / "jupyter_server_config.json").write_text(
        json.dumps({"SandboxExtensionApp": {"max_upload_mib": 1}}))
    try:
        with running_server(base) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_upload_limit(small_upload_server: Server) -> None:
    kernel = start_kernel(small_upload_server)
    try:
        base = f"sandbox/api/kernels/{kernel.id}/files/"
        with small_upload_server.client() as http:
            too_big = http.put(base + "big.bin", content=b"x" * ((1 << 20) + 1))
            assert too_big.status_code == 413
            assert "upload limit" in too_big.json()["message"]
            assert http.put(base + "ok.bin", content=b"x" * (1 << 20)).status_code == 201
    finally:
        stop_kernel(kernel)
