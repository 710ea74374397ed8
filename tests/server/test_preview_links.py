"""Links printed by ``serve()`` point at the server's preview route under its base URL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import running_server, short_temp_dir
from .test_checkpoints import _open_session, _write_notebook


@pytest.fixture
def base() -> Iterator[Path]:
    folder = short_temp_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_preview_links_use_the_base_url_not_the_default_url(base):
    (base / "cfg").mkdir()
    (base / "cfg" / "jupyter_server_config.json").write_text(
        '{"ServerApp": {"default_url": "/lab", "base_url": "/user/me/"}}')
    with running_server(base) as server:
        server.url += "user/me/"
        (server.root_dir / "work").mkdir()
        _write_notebook(server, "x")
        kernel = _open_session(server)
        try:
            link = kernel.stdout("import os; print(os.environ['JUPYTER_SANDBOX_PREVIEW_URL'])")
            assert link == f"{server.url}sandbox/preview/{kernel.id}/\n"
        finally:
            kernel.client.stop_channels()
