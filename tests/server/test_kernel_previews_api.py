"""``GET/DELETE {base_url}sandbox/api/kernels/{kernel_id}/previews[/{port}]``: what the
JupyterLab side panel lists and stops; in both modes (the listed links are the Jupyter-origin
links either way)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .conftest import Kernel, Server, start_kernel, stop_kernel
from .preview_access import MODES, PreviewAccess, server_for

APPS = '''
from jupyter_sandbox import serve

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]

serve(app, port=8000)
serve(app, port=9001)
'''


@pytest.fixture(scope="module", params=MODES)
def site(request) -> Iterator[PreviewAccess]:
    kernel = start_kernel(server_for(request))
    yield PreviewAccess(kernel)
    stop_kernel(kernel)


def test_list_and_stop_previews(site: PreviewAccess) -> None:
    kernel = site.kernel
    kernel.run(APPS)
    base = f"sandbox/api/kernels/{kernel.id}/previews"
    with kernel.server.client() as http, site.client() as preview:
        listed = http.get(base)
        assert listed.status_code == 200, listed.text
        previews = listed.json()["previews"]
        assert [p["port"] for p in previews] == [8000, 9001]
        assert previews[0]["path"] == f"sandbox/preview/{kernel.id}/8000/"
        assert previews[0]["url"] == kernel.preview_url(8000)
        assert preview.get(site.url(9001)).text == "hello"

        stopped = http.delete(f"{base}/9001")
        assert stopped.status_code == 204, stopped.text
        assert [p["port"] for p in http.get(base).json()["previews"]] == [8000]
        assert preview.get(site.url(9001)).status_code >= 400
        assert preview.get(site.url(8000)).text == "hello"

        again = http.delete(f"{base}/9001")
        assert again.status_code == 404
        assert "9001" in again.json()["message"]
        assert http.delete(f"{base}/0").status_code == 400
    still_served = "import jupyter_sandbox._registry as r; print(8000 in r._servers)"
    assert "True" in kernel.stdout(still_served)


def test_previews_errors_and_auth(jupyter_server: Server, kernel: Kernel) -> None:
    with jupyter_server.client() as http:
        missing = http.get("sandbox/api/kernels/no-such-kernel/previews")
        assert missing.status_code == 404
        assert "no running sandboxed kernel" in missing.json()["message"]
        assert http.delete("sandbox/api/kernels/no-such-kernel/previews/8000").status_code == 404
        assert http.delete(f"sandbox/api/kernels/{kernel.id}/previews").status_code == 405
    with httpx.Client(base_url=jupyter_server.url, timeout=60) as anonymous:
        assert anonymous.get(f"sandbox/api/kernels/{kernel.id}/previews").status_code == 403
        assert anonymous.delete(f"sandbox/api/kernels/{kernel.id}/previews/8000").status_code == 403
