"""Alice under a real JupyterHub, through the hub's proxy at ``/user/alice/``: a Sandboxed Python
kernel runs cells, serves a preview reached with her browser session, takes and restores a
checkpoint; and after the hub's idle culler stopped her server, her named snapshot, checkpoint
and files come back with the next server (state lives in her home, as docs/deploy.md says)."""

from __future__ import annotations

import json
import urllib.parse

import nbformat
import pytest

from .hub import Hub, UserSession

pytestmark = pytest.mark.slow

PREVIEW_APP = """
from jupyter_sandbox import serve

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    seen = "cookie" if environ.get("HTTP_COOKIE") else "no cookie"
    return [f"hello from alice's sandbox {environ['SCRIPT_NAME']} {environ['PATH_INFO']} "
            f"{seen}".encode()]

serve(app, port=8000)
"""


def _make_folder(session: UserSession, path: str) -> None:
    response = session.server_api("PUT", f"api/contents/{path}", json={"type": "directory"})
    assert response.status_code in (200, 201), response.text


def _write_notebook(session: UserSession, path: str, marker: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(f"# {marker}")]
    notebook.metadata["kernelspec"] = {"name": "sandboxed-python",
                                       "display_name": "Sandboxed Python", "language": "python"}
    response = session.server_api("PUT", f"api/contents/{path}",
                                  json={"type": "notebook", "content": notebook})
    assert response.status_code in (200, 201), response.text


def _notebook_marker(session: UserSession, path: str) -> str:
    response = session.server_api("GET", f"api/contents/{path}")
    assert response.status_code == 200, response.text
    return response.json()["content"]["cells"][0]["source"]


def _preview_bundle(outputs: list[dict]) -> dict:
    for message in outputs:
        for mime, value in (message["content"].get("data") or {}).items():
            if mime.startswith("application/vnd.jupyter-sandbox"):
                return value if isinstance(value, dict) else json.loads(value)
    raise AssertionError(f"no preview output in {outputs}")


def test_alice_runs_cells_previews_and_checkpoints_through_the_hub(hub: Hub,
                                                                   alice: UserSession):
    notebook = "work/analysis.ipynb"
    _make_folder(alice, "work")
    _write_notebook(alice, notebook, "version 1")
    kernel = alice.open_session(notebook)

    assert alice.run(kernel, "numbers = [n * n for n in range(5)]; print(sum(numbers))"
                     ).check().stdout == "30\n"

    # The preview link in the cell's output is the hub-prefixed path, which the browser
    # resolves against the hub's origin: through the proxy, not the server's own port.
    served = alice.run(kernel, PREVIEW_APP).check()
    route = f"user/alice/sandbox/preview/{kernel}/8000/"
    url = _preview_bundle(served.outputs)["url"]
    assert urllib.parse.urljoin(hub.url, url) == hub.url + route, url
    assert f"/{route}" in served.text

    # alice's session (cookies, no token) through the hub's proxy: as an API client, and as
    # a browser navigation (redirected below the preview's capability).
    fetched = alice.client.get(f"{route}hello")
    assert fetched.status_code == 200, fetched.text
    assert fetched.text == f"hello from alice's sandbox /{route[:-1]} /hello no cookie"
    navigated = alice.client.get(f"{route}page", follow_redirects=True, headers={
        "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
    assert navigated.status_code == 200, navigated.text
    assert navigated.url.path.startswith(f"/{route}~")
    assert navigated.text.endswith("/page no cookie")

    # A checkpoint holds the notebook and the sandbox; restoring brings both back.
    alice.run(kernel, "label = 'original'; numbers.append(99)").check()
    created = alice.server_api("POST", f"api/contents/{notebook}/checkpoints")
    assert created.status_code == 201, created.text
    checkpoint = created.json()["id"]
    alice.run(kernel, "label = 'changed'; numbers.clear()").check()
    _write_notebook(alice, notebook, "version 2")
    restored = alice.server_api("POST", f"api/contents/{notebook}/checkpoints/{checkpoint}")
    assert restored.status_code == 204, restored.text
    assert _notebook_marker(alice, notebook) == "# version 1"
    assert alice.run(kernel, "print(label, numbers)").check().stdout == (
        "original [0, 1, 4, 9, 16, 99]\n")


def test_alice_state_survives_the_idle_culler(hub: Hub, alice: UserSession):
    notebook = "kept/culled.ipynb"
    _make_folder(alice, "kept")
    _write_notebook(alice, notebook, "before the cull")
    note = alice.server_api("PUT", "api/contents/kept/notes.txt",
                            json={"type": "file", "format": "text", "content": "my notes"})
    assert note.status_code in (200, 201), note.text
    kernel = alice.open_session(notebook)
    alice.run(kernel, "kept = 'from the snapshot'").check()
    alice.run(kernel, "%snapshot save keep").check()
    alice.run(kernel, "kept = 'from the checkpoint'").check()
    created = alice.server_api("POST", f"api/contents/{notebook}/checkpoints")
    assert created.status_code == 201, created.text
    checkpoint = created.json()["id"]

    # The real jupyterhub-idle-culler, as a hub service with a 1 s timeout, stops the server.
    with hub.idle_culler(timeout=1, every=1):
        hub.wait_server_stopped("alice", timeout=120)
    assert "Culling server alice" in hub.culler_log(), hub.culler_log()
    data = hub.home("alice") / ".local" / "share" / "jupyter" / "sandbox"
    assert any((data / "snapshots").rglob("*")), "no named snapshot in alice's home"

    hub.start_server("alice")
    assert alice.open_server().status_code == 200

    files = alice.server_api("GET", "api/contents/kept/notes.txt")
    assert files.status_code == 200 and files.json()["content"] == "my notes", files.text
    listed = alice.server_api("GET", f"api/contents/{notebook}/checkpoints")
    assert checkpoint in [entry["id"] for entry in listed.json()], listed.text
    restored = alice.server_api("POST", f"api/contents/{notebook}/checkpoints/{checkpoint}")
    assert restored.status_code == 204, restored.text

    # The notebook's next kernel starts from the checkpoint's sandbox ...
    kernel = alice.open_session(notebook)
    assert alice.run(kernel, "print(kept)").check().stdout == "from the checkpoint\n"
    # ... and the named snapshot saved before the cull is there to restore.
    assert "keep" in alice.run(kernel, "%snapshot list").check().text
    alice.run(kernel, "%snapshot restore keep").check()
    assert alice.run(kernel, "print(kept)").check().stdout == "from the snapshot\n"
