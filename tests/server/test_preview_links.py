"""Links printed by ``serve()`` point at the server's preview route under its base URL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PREVIEW_HOST, running_server, short_temp_dir
from .test_checkpoints import _open_session, _write_notebook


@pytest.fixture
def base() -> Iterator[Path]:
    folder = short_temp_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("preview_host", [None, PREVIEW_HOST])
def test_preview_links_use_the_base_url_not_the_default_url(base, preview_host):
    """In both modes: with ``preview_host`` the link still points at the Jupyter origin, which
    checks the login and sends the browser on to the preview's own origin."""
    (base / "cfg").mkdir()
    (base / "cfg" / "jupyter_server_config.json").write_text(
        '{"ServerApp": {"default_url": "/lab", "base_url": "/user/me/"}}')
    with running_server(base, preview_host=preview_host) as server:
        server.url += "user/me/"
        (server.root_dir / "work").mkdir()
        _write_notebook(server, "x")
        kernel = _open_session(server)
        try:
            link = kernel.stdout("import os; print(os.environ['JUPYTER_SANDBOX_PREVIEW_URL'])")
            assert link == f"{server.url}sandbox/preview/{kernel.id}/\n"
            if preview_host:
                kernel.run("from jupyter_sandbox import serve\n"
                           "serve(lambda e, s: (s('200 OK', []), [b'hi'])[1], port=8000)")
                with server.client() as http:
                    redirect = http.get(f"{link.strip()}8000/x")
                assert redirect.status_code == 302
                assert redirect.headers["location"].startswith(
                    f"http://8000-{kernel.id}.localhost:")
        finally:
            kernel.client.stop_channels()
