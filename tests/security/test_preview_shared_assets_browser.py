"""A multi-file app previewed on the shared Jupyter origin (no ``preview_host``, the mode of
JupyterHub and Binder) works in a real browser, and its page still cannot act as the user.

Debian's headless chromium (``shared_assets_driver.js``: playwright-core, the browser's own
defaults, a fresh profile) logs in to a real ``jupyter server`` and opens the preview link
from a Jupyter page in a new tab. The page is sandboxed (opaque origin), so it sends no Jupyter
cookie with its own requests; the link redirects it below a capability path, where:

- its stylesheet and script load by relative URL, and a script by an absolute path built from
  ``root_path`` (what ``url_for`` does);
- ``fetch`` reads the app's JSON route, and follows a redirect of the app (kept below the
  capability);
- a form POST reaches the app and its answer page loads;
- a WebSocket echoes;
- ``POST /api/kernels``, ``/api/terminals`` (relative and absolute) and the sandbox service
  fail, and afterwards the REST API shows no new kernel and no terminal; no Jupyter cookie
  reached the app.

Screenshots go to ``test-artifacts/preview-browser/``. Needs node, ``/usr/bin/chromium`` and
``labextension/node_modules`` (playwright-core); skipped without them, except under CI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_driver import browser_node, run_driver
from tests.server.conftest import Kernel, Server, start_kernel, stop_kernel

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "test-artifacts" / "preview-browser"
DRIVER_TIMEOUT = 420

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Multi-file app</title>
<link rel="stylesheet" href="static/app.css">
<script src="static/app.js"></script>
<script src="__ROOT__/static/absolute.js"></script>
</head><body><h1 id="title">Multi-file app</h1>
<form id="form" method="post" action="submit"><input name="word" value="h&eacute;llo"></form>
<pre id="out">running</pre></body></html>"""

SCRIPT = r"""
(async () => {
  await new Promise(resolve => (document.readyState === 'loading'
    ? document.addEventListener('DOMContentLoaded', resolve) : resolve()));
  const checks = {};
  checks.css = getComputedStyle(document.getElementById('title')).color === 'rgb(1, 2, 3)';
  checks.absoluteScript = window.absoluteLoaded === true;
  try {
    const data = await (await fetch('api/data')).json();
    checks.fetchJson = data.answer === 42;
    checks.appRootPath = data.root_path;
  } catch (error) { checks.fetchJson = String(error); }
  try {
    const response = await fetch('go');
    checks.redirect = response.ok && (await response.json()).landed === true;
    checks.redirectUrl = response.url;
  } catch (error) { checks.redirect = String(error); }
  try {
    const response = await fetch('api/items', {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"n":1}'
    });
    checks.fetchPut = response.ok && (await response.json()).body === '{"n":1}';
  } catch (error) { checks.fetchPut = String(error); }
  checks.webSocket = await new Promise(resolve => {
    const url = new URL('ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url.href);
    const timer = setTimeout(() => resolve('no echo within 60 s'), 60000);
    socket.onopen = () => socket.send('ping');
    socket.onmessage = event => {
      clearTimeout(timer); socket.close(); resolve(event.data === 'echo:ping' ? true : event.data);
    };
    socket.onerror = () => { clearTimeout(timer); resolve('error'); };
  });
  // The page must not reach the Jupyter API, by any address.
  checks.jupyterApi = [];
  const targets = ['/api/kernels', '/api/terminals', '../../../../../api/kernels',
                   '../../../../../api/terminals', '/sandbox/api/v1/sandboxes'
                  ].map(path => new URL(path, location.href).href);
  for (const url of targets) {
    try {
      const response = await fetch(url, {
        method: 'POST', credentials: 'include', headers: { 'Content-Type': 'text/plain' },
        body: '{"name":"python3"}'
      });
      checks.jupyterApi.push({ url, status: response.status, ok: response.ok });
    } catch (error) {
      checks.jupyterApi.push({ url, error: String(error) });
    }
  }
  console.log('JSB-ASSETS ' + JSON.stringify({ origin: self.origin, href: location.href, checks }));
  document.getElementById('out').textContent = JSON.stringify(checks, null, 2);
  document.getElementById('form').submit();
})();
"""

APP = r'''
import html, json
from urllib.parse import parse_qs
from jupyter_sandbox import serve

PAGE = __PAGE__
SCRIPT = __SCRIPT__.encode()
seen = []

async def app(scope, receive, send):
    root = scope["root_path"]
    path = scope["path"][len(root):] or "/"
    seen.append({"type": scope["type"], "method": scope.get("method"), "path": path,
                 "root_path": root,
                 "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                             for k, v in scope["headers"]]})
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": "echo:" + (message.get("text") or "")})
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, kind, extra = 200, b"application/json", []
    if path == "/":
        out = PAGE.replace("__ROOT__", html.escape(root)).encode()
        kind = b"text/html; charset=utf-8"
    elif path == "/static/app.css":
        out, kind = b"#title { color: rgb(1, 2, 3); }", b"text/css"
    elif path == "/static/app.js":
        out, kind = SCRIPT, b"text/javascript"
    elif path == "/static/absolute.js":
        out, kind = b"window.absoluteLoaded = true;", b"text/javascript"
    elif path == "/api/data":
        out = json.dumps({"answer": 42, "root_path": root}).encode()
    elif path == "/api/items":
        out = json.dumps({"method": scope["method"], "body": body.decode()}).encode()
    elif path == "/go":  # an app that ignores root_path
        status, out, extra = 302, b"", [(b"location", b"/landing")]
    elif path == "/landing":
        out = json.dumps({"landed": True}).encode()
    elif path == "/submit" and scope["method"] == "POST":
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        report = json.dumps({"method": "POST", "form": form})
        out = ("<!doctype html><meta charset=utf-8><title>Posted</title><h1>Posted</h1>"
               "<script>console.log('JSB-FORM ' + JSON.stringify(" + report + "))</script>"
               ).encode()
        kind = b"text/html; charset=utf-8"
    else:
        status, out, kind = 404, b"not found", b"text/plain"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"cache-control", b"no-store"), *extra]})
    await send({"type": "http.response.body", "body": out})

serve(app, port=8000)
'''.replace("__PAGE__", repr(PAGE)).replace("__SCRIPT__", repr(SCRIPT))


@pytest.fixture(scope="module")
def app_kernel(jupyter_server: Server) -> Iterator[Kernel]:
    browser_node()
    kernel = start_kernel(jupyter_server)
    try:
        kernel.run(APP)
        yield kernel
    finally:
        stop_kernel(kernel)


def server_state(server: Server) -> tuple[list[str], list[dict]]:
    with server.client() as api:
        kernels = api.get("api/kernels")
        terminals = api.get("api/terminals")
    kernels.raise_for_status()
    terminals.raise_for_status()
    return sorted(k["id"] for k in kernels.json()), terminals.json()


def drive(server: Server, link: str) -> dict:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {"SERVER_URL": server.url, "TOKEN": server.token, "LINK": link,
           "ARTIFACTS": str(ARTIFACTS)}
    return run_driver(HERE / "shared_assets_driver.js", env, DRIVER_TIMEOUT,
                      log=ARTIFACTS / "shared-assets.log",
                      context=lambda: "--- jupyter server log (tail) ---\n"
                      + "".join(server.log_lines[-40:]))


def test_a_multi_file_app_works_on_the_shared_origin_and_cannot_act_as_the_user(app_kernel):
    server = app_kernel.server
    before = server_state(server)
    app_kernel.stdout("seen.clear()")
    report = drive(server, app_kernel.preview_url(8000))
    after = server_state(server)

    assert report["login"] == 200 and report["loggedIn"], report
    page = report["assets"]
    prefix = re.escape(f"/sandbox/preview/{app_kernel.id}/8000/")
    capability = rf"{prefix}~[A-Za-z0-9_-]{{43}}"
    assert re.fullmatch(rf"{re.escape(server.url.rstrip('/'))}{capability}/", page["url"]), page
    checks = page["data"]["checks"]
    assert page["data"]["origin"] == "null", page  # still sandboxed: an opaque origin
    root_path = checks.pop("appRootPath")
    assert re.fullmatch(capability, root_path), root_path
    assert checks.pop("redirectUrl").endswith(f"{root_path}/landing")
    jupyter_api = checks.pop("jupyterApi")
    assert checks == {"css": True, "absoluteScript": True, "fetchJson": True, "redirect": True,
                      "fetchPut": True, "webSocket": True}, checks
    origin = server.url.rstrip("/")
    assert [a["url"] for a in jupyter_api] == [
        f"{origin}/api/kernels", f"{origin}/api/terminals", f"{origin}/api/kernels",
        f"{origin}/api/terminals", f"{origin}/sandbox/api/v1/sandboxes"]
    for attempt in jupyter_api:
        assert not attempt.get("ok"), attempt
    form = report["form"]
    assert form["data"] == {"method": "POST", "form": {"word": "héllo"}}
    assert form["url"] == f"{page['url']}submit"

    # Nothing started through the REST API, no terminal.
    assert after == before, (before, after)
    # What the app saw: every request below the capability, no cookie, no Referer.
    seen = json.loads(app_kernel.stdout("import json; print(json.dumps(seen))"))
    paths = [(r["method"] or r["type"], r["path"]) for r in seen]
    for expected in [("GET", "/"), ("GET", "/static/app.css"), ("GET", "/static/app.js"),
                     ("GET", "/static/absolute.js"), ("GET", "/api/data"), ("GET", "/go"),
                     ("GET", "/landing"), ("PUT", "/api/items"), ("websocket", "/ws"),
                     ("POST", "/submit")]:
        assert expected in paths, (expected, paths)
    for record in seen:
        assert record["root_path"] == root_path, record
        names = {name.lower() for name, _ in record["headers"]}
        assert not names & {"cookie", "authorization", "referer"}, record
        assert server.token not in json.dumps(record)
