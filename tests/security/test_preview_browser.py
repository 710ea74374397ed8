"""Issue 13 in a real browser: a preview app can never act as the Jupyter user.

A real ``jupyter lab`` (through tests/jupyter_process.py; ``window.jupyterapp`` exposed, so
that reaching it from a preview would be worth something to an attacker) and Debian's headless
chromium driven by ``preview_attack.js`` (playwright-core, the browser's own defaults, a fresh
profile). In both modes, the shared origin and ``preview_host = {port}-{kernel}.localhost``:

- a hostile app, served by a real Sandboxed Python kernel with ``serve()``, is opened in a new
  tab (direct navigation, logged in) and in the JupyterLab preview tab; its page
  (``hostile_preview_page.js``) tries the REST API, Jupyter's cookies and storage, the
  JupyterLab page around it and Jupyter's WebSockets. Every attempt fails, and afterwards the
  REST API shows no new kernel and no terminal, the browser no cookie planted on the Jupyter
  hosts;
- an untrusted notebook file (never run) whose preview outputs point at ``javascript:``,
  ``data:``, a foreign host and Jupyter's own API is opened and every part of those outputs is
  clicked: nothing runs, nothing opens, the foreign host sees no request.

With ``preview_host`` set, a benign app (its own session cookie, localStorage, ``/static/app.js``
by absolute path, a WebSocket echo) works end to end in a new tab and in the JupyterLab tab,
and the same page cannot call the Jupyter API.

Screenshots go to ``test-artifacts/preview-browser/``. Needs node, ``/usr/bin/chromium``,
``labextension/node_modules`` (playwright-core) and the built extension installed; skipped
without them, except under CI.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.browser_driver import browser_node, run_driver
from tests.jupyter_process import jupyter_process

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "test-artifacts" / "preview-browser"
PREVIEW_MIME = "application/vnd.jupyter-sandbox.preview+json"
PREVIEW_HOST = "{port}-{kernel}.localhost"
STARTUP_TIMEOUT = 120
DRIVER_TIMEOUT = 420

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


# -- the apps, as notebook cells ------------------------------------------------------------------

def _config_line(lab_url: str) -> str:
    """Guest code binding CONFIG: the Jupyter origins to attack and the kernel's own id."""
    origins = [lab_url, lab_url.replace("://127.0.0.1:", "://localhost:")]
    return ("CONFIG = json.dumps({'jupyter': "
            f"{origins!r}, 'kernel': os.environ.get('JUPYTER_SANDBOX_KERNEL_ID', '')}})")


def hostile_app(lab_url: str) -> str:
    script = (HERE / "hostile_preview_page.js").read_text()
    return f'''import json, os
from jupyter_sandbox import serve

{_config_line(lab_url)}
SCRIPT = {json.dumps(script)}.replace("__CONFIG__", CONFIG)
PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>Hostile preview</title>"
        "<style>body{{font:13px sans-serif}} .SUCCEEDED{{background:#f88}} .blocked{{color:#060}}"
        " table{{border-collapse:collapse}} td{{padding:1px 6px;border-bottom:1px solid #ddd;"
        "vertical-align:top;max-width:40em;overflow-wrap:anywhere}}</style></head><body>"
        "<h1>Hostile preview app</h1><script>" + SCRIPT + "</script></body></html>").encode()

def hostile(environ, start_response):
    seen = {{key: environ.get(key, "") for key in (
        "QUERY_STRING", "HTTP_COOKIE", "HTTP_REFERER", "HTTP_AUTHORIZATION", "HTTP_X_XSRFTOKEN")}}
    # Cookies for the Jupyter host, planted from the response too.
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Cache-Control", "no-store"),
                              ("Set-Cookie", "jsbserver=1; Path=/"),
                              ("Set-Cookie", "_xsrf=jsb-server-tossed; Path=/"),
                              ("Set-Cookie", "jsbserver_localhost=1; Path=/; Domain=localhost")])
    return [PAGE.replace(b"__SEEN__", json.dumps(seen).replace("<", "\\\\u003c").encode())]

serve(hostile, port=8000)
'''


BENIGN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Benign preview</title>
<script src="/static/app.js"></script></head>
<body><h1>Benign preview app</h1><pre id="out">running</pre></body></html>"""

BENIGN_SCRIPT = r"""
(async () => {
  const CONFIG = __CONFIG__;
  const script = document.currentScript ? new URL(document.currentScript.src).pathname : null;
  await new Promise(resolve => (document.readyState === 'loading'
    ? document.addEventListener('DOMContentLoaded', resolve)
    : resolve()));
  let framed;
  try { framed = window.top !== window.self; } catch (error) { framed = true; }
  const checks = { absoluteAsset: script === '/static/app.js' };
  try {
    const who = await (await fetch('/whoami', { credentials: 'same-origin' })).json();
    checks.appSawCookie = who.cookie;
    checks.serverCookie = /(^|; )appsession=s3cr3t-app(;|$)/.test(who.cookie);
  } catch (error) {
    checks.serverCookie = false;
    checks.whoamiError = String(error);
  }
  try {
    document.cookie = 'jscookie=1; path=/; SameSite=None; Secure; Partitioned';
    checks.jsCookie = document.cookie.includes('jscookie=1');
  } catch (error) {
    checks.jsCookie = false;
    checks.jsCookieError = String(error);
  }
  try {
    localStorage.setItem('benign', 'v1');
    checks.localStorage = localStorage.getItem('benign') === 'v1';
  } catch (error) {
    checks.localStorage = false;
    checks.localStorageError = String(error);
  }
  checks.webSocket = await new Promise(resolve => {
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    const timer = setTimeout(() => resolve('no echo within 60 s'), 60000);
    socket.onopen = () => socket.send('ping');
    socket.onmessage = event => {
      clearTimeout(timer); socket.close(); resolve(event.data === 'echo:ping' ? true : event.data);
    };
    socket.onerror = () => { clearTimeout(timer); resolve('error'); };
  });
  checks.jupyterApi = [];
  for (const jupyter of CONFIG.jupyter) {
    for (const [path, body] of [['api/kernels', '{"name":"python3"}'], ['api/terminals', '{}']]) {
      try {
        const response = await fetch(jupyter + path, {
          method: 'POST', credentials: 'include',
          headers: { 'Content-Type': 'application/json' }, body
        });
        checks.jupyterApi.push({ url: jupyter + path, status: response.status, ok: response.ok });
      } catch (error) {
        checks.jupyterApi.push({ url: jupyter + path, error: String(error) });
      }
    }
  }
  console.log('JSB-BENIGN '
              + JSON.stringify({ framed, origin: self.origin, href: location.href, checks }));
  document.getElementById('out').textContent = JSON.stringify(checks, null, 2);
  const done = document.createElement('p');
  done.id = 'done';
  done.textContent = 'done';
  document.body.append(done);
})();
"""


def benign_app(lab_url: str) -> str:
    return f'''import json, os
from jupyter_sandbox import serve

{_config_line(lab_url)}
PAGE = {json.dumps(BENIGN_PAGE)}.encode()
SCRIPT = {json.dumps(BENIGN_SCRIPT)}.replace("__CONFIG__", CONFIG).encode()

async def benign(scope, receive, send):
    if scope["type"] == "websocket":
        if (await receive())["type"] != "websocket.connect":
            return
        await send({{"type": "websocket.accept"}})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({{"type": "websocket.send", "text": "echo:" + (message.get("text") or "")}})
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    path = scope["path"][len(scope.get("root_path") or ""):] or "/"
    headers = [(b"cache-control", b"no-store")]
    status = 200
    if path == "/":
        body, kind = PAGE, b"text/html; charset=utf-8"
        # As an app meant to work inside an iframe sets it (browsers block third-party
        # cookies that are not partitioned).
        headers.append((b"set-cookie", b"appsession=s3cr3t-app; Path=/; HttpOnly; SameSite=None;"
                                       b" Secure; Partitioned"))
    elif path == "/static/app.js":
        body, kind = SCRIPT, b"text/javascript"
    elif path == "/whoami":
        cookie = "; ".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"cookie")
        body, kind = json.dumps({{"cookie": cookie}}).encode(), b"application/json"
    else:
        status, body, kind = 404, b"not found", b"text/plain"
    await send({{"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), *headers]}})
    await send({{"type": "http.response.body", "body": body}})

serve(benign, port=8000)
'''


def write_notebook(path: Path, cells: list) -> None:
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "sandboxed-python", "display_name": "Sandboxed Python",
                       "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.write(notebook, str(path))


# -- the servers ----------------------------------------------------------------------------------

@dataclass
class Lab:
    url: str
    token: str
    root: Path
    mode: str  # "shared" or "host"
    log: list[str]

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"token {self.token}"},
                            timeout=60)


@contextlib.contextmanager
def running_lab(mode: str) -> Iterator[Lab]:
    # Short: the kernels' control sockets live in the runtime folder (108-byte limit).
    base = Path(tempfile.mkdtemp(prefix="jsp-", dir="/tmp"))
    try:
        runtime, config, data, root = base / "rt", base / "cfg", base / "data", base / "root"
        for folder in (runtime, config, data, root):
            folder.mkdir()
        if mode == "host":
            (config / "jupyter_server_config.py").write_text(
                f"c.SandboxExtensionApp.preview_host = {PREVIEW_HOST!r}\n")
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime),
               "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(data)}
        env.pop("JUPYTER_SANDBOX_SERVER_URL", None)
        command = [sys.executable, "-m", "jupyter", "lab", "--LabApp.news_url=None",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                   "--LabApp.expose_app_in_browser=True"]
        with jupyter_process(command, root=root, env=env,
                             startup_timeout=STARTUP_TIMEOUT) as running:
            yield Lab(running.url, running.token, root, mode, running.log_lines)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module", params=["shared", "host"])
def lab(request) -> Iterator[Lab]:
    browser_node(needs_labextension=True)
    with running_lab(request.param) as lab:
        with lab.api() as api:
            settings = api.get("sandbox/api/preview-settings")
        assert settings.status_code == 200, (
            f"GET sandbox/api/preview-settings answered {settings.status_code}: is the "
            "jupyter_sandbox server extension loaded? jupyter lab log:\n" + "".join(lab.log[-60:]))
        expected = PREVIEW_HOST if lab.mode == "host" else None
        assert settings.json() == {"preview_host": expected}
        yield lab
        (ARTIFACTS / f"{lab.mode}-jupyter-lab.log").write_text("".join(lab.log))


@pytest.fixture(scope="module", autouse=True)
def artifacts() -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


class _RecordingServer(http.server.ThreadingHTTPServer):
    """A foreign host on loopback: records every request it gets (``GET /hits`` lists them)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.hits: list[str] = []


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    server: _RecordingServer

    def _answer(self) -> None:
        if self.path == "/hits":
            body = json.dumps(self.server.hits).encode()
        else:
            self.server.hits.append(f"{self.command} {self.path}")
            body = b"<h1>foreign host</h1>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        """Quiet: the hits are the record."""


@pytest.fixture
def foreign_host() -> Iterator[str]:
    server = _RecordingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def drive(lab: Lab, scenario: str, notebook: str, **extra: str) -> dict:
    """Run preview_attack.js; its report (or a failure with its output)."""
    prefix = f"{lab.mode}-{scenario}"
    for old in ARTIFACTS.glob(f"{prefix}-*.png"):
        old.unlink()
    env = {"LAB_URL": lab.url, "LAB_TOKEN": lab.token, "SCENARIO": scenario,
           "NOTEBOOK": notebook, "ARTIFACTS": str(ARTIFACTS), "PREFIX": prefix, **extra}
    return run_driver(HERE / "preview_attack.js", env, DRIVER_TIMEOUT,
                      log=ARTIFACTS / f"{prefix}.log",
                      context=lambda: "--- jupyter lab log (tail) ---\n" + "".join(lab.log[-40:]))


def server_state(lab: Lab) -> tuple[list[dict], list[dict]]:
    with lab.api() as api:
        kernels = api.get("api/kernels")
        terminals = api.get("api/terminals")
    kernels.raise_for_status()
    terminals.raise_for_status()
    return kernels.json(), terminals.json()


def jupyter_cookie_problems(report: dict) -> list[dict]:
    """Cookies on the Jupyter hosts that the preview planted (or a tossed XSRF cookie)."""
    return [c for c in report["cookies"]
            if c["name"].startswith("jsb") or (c["name"] == "_xsrf" and "jsb" in c["value"])]


def cleanup_kernels(lab: Lab) -> None:
    """Stop what a test started (and what an attack that worked would have left)."""
    with lab.api() as api:
        for session in api.get("api/sessions").json():
            api.delete(f"api/sessions/{session['id']}")
        for kernel in api.get("api/kernels").json():
            api.delete(f"api/kernels/{kernel['id']}")
        for terminal in api.get("api/terminals").json():
            api.delete(f"api/terminals/{terminal['name']}")


# -- the tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("lab", ["shared"], indirect=True)  # the control needs no preview mode
def test_attack_page_works_where_it_is_not_stopped(lab: Lab) -> None:
    """Control: the attack page run on the Jupyter origin itself (where previews used to run)
    does start a kernel and a terminal and read the cookies, so its "blocked" below means
    something."""
    try:
        report = drive(lab, "control", "")
        kernels, terminals = server_state(lab)
    finally:
        cleanup_kernels(lab)
    succeeded = {r["name"] for r in report["control"]["results"] if r["outcome"] == "SUCCEEDED"}
    assert {"POST api/kernels", "POST api/terminals", "GET api/contents", "read document.cookie",
            "top.jupyterapp", "top.document (JupyterLab shell)"} <= succeeded, succeeded
    assert "python3" in [k["name"] for k in kernels]
    assert terminals != []
    assert {c["name"] for c in jupyter_cookie_problems(report)} >= {"jsbevil", "_xsrf"}


def test_hostile_preview_cannot_act_as_the_user(lab: Lab) -> None:
    write_notebook(lab.root / "hostile.ipynb", [nbformat.v4.new_code_cell(hostile_app(lab.url))])
    try:
        report = drive(lab, "hostile", "hostile.ipynb")
        kernels, terminals = server_state(lab)
    finally:
        cleanup_kernels(lab)

    assert report["labHasApp"], "window.jupyterapp is not exposed: the parent probes prove nothing"
    sandbox = set((report["iframeSandbox"] or "").split())
    assert "allow-scripts" in sandbox
    assert ("allow-same-origin" in sandbox) == (lab.mode == "host"), sandbox
    for where in ("newTab", "labTab"):
        seen = report[where]
        names = {r["name"] for r in seen["results"]}
        # The page ran to its end: every kind of attempt is in its record.
        assert {"POST api/kernels", "POST api/terminals", "form POST api/kernels",
                "WebSocket kernel channels", "read document.cookie", "set cookie",
                "parent.jupyterapp", "top.document (JupyterLab shell)"} <= names, names
        assert len(seen["popup"]["results"]) == 1
        succeeded = [r for r in seen["results"] + seen["popup"]["results"]
                     if r["outcome"] == "SUCCEEDED"]
        assert succeeded == [], f"{where}: attacks that worked: {json.dumps(succeeded, indent=1)}"
        if lab.mode == "shared":
            assert seen["origin"] == "null", f"{where}: the preview ran on {seen['origin']}"
        else:
            host = re.escape(PREVIEW_HOST).replace(r"\{port\}", "8000").replace(
                r"\{kernel\}", "[0-9a-f-]+")
            assert re.fullmatch(rf"http://{host}:\d+", seen["origin"]), seen["origin"]
    assert report["newTab"]["framed"] is False and report["labTab"]["framed"] is True
    # What reached the app with the page's request (the new tab's link carried ?token=, and the
    # browser has an unrelated cookie for the Jupyter host): no token, no Jupyter or unrelated
    # cookie, no Referer with a query.
    for where in ("newTab", "labTab"):
        seen = report[where]["seen"]
        assert lab.token not in json.dumps(seen), (where, seen)
        unwanted = r"jsb-unrelated|username-|_xsrf=2\|"
        assert not re.search(unwanted, seen["HTTP_COOKIE"]), (where, seen)
        assert "?" not in seen["HTTP_REFERER"] and seen["HTTP_AUTHORIZATION"] == "", (where, seen)
    # Nothing started on the server: only the notebook's own kernel, no terminal.
    assert [k["name"] for k in kernels] == ["sandboxed-python"], kernels
    assert terminals == []
    assert jupyter_cookie_problems(report) == [], report["cookies"]
    # The JupyterLab page is still there, not navigated away by the framed page.
    assert report["labStillThere"] and "jsb-top-nav" not in report["labUrlAfter"]
    assert report["dialogs"] == []


UNTRUSTED_JS = ("javascript:window.__jsbPwned=1;localStorage.setItem('jsb-pwned','1');"
                "document.body.dataset.jsbPwned='1';document.title='JSB-PWNED';"
                "fetch('{foreign}js');alert('JSB-PWNED')")


def test_untrusted_notebook_preview_outputs_run_nothing(lab: Lab, foreign_host: str) -> None:
    script = UNTRUSTED_JS.format(foreign=foreign_host)
    port = lab.url.rsplit(":", 1)[1].rstrip("/")
    valid_kernel = "f00dfeed-0000-4000-8000-000000000000"
    bundles = [
        {"url": script},
        {"url": "  JaVaScRiPt:" + script.split(":", 1)[1]},
        {"url": f"{foreign_host}foreign"},
        {"url": "data:text/html,<script>alert('JSB-PWNED')</script>"},
        {"url": "/api/terminals"},
        {"url": f"{lab.url}api/kernels"},
        {"path": "../../api/kernels"},
        {"kernel_id": "../../api/kernels?x=", "url": script},
        {"url": f"http://8000-k1.localhost.{foreign_host[len('http://'):]}"},
        {"kernel_id": valid_kernel},
    ]
    cells = []
    for bundle in bundles:
        data = {"port": 8000, "kind": "wsgi", "url": None, "path": None, "kernel_id": None,
                **bundle}
        output = nbformat.v4.new_output("display_data", data={
            PREVIEW_MIME: data, "text/plain": "Preview"})
        cells.append(nbformat.v4.new_code_cell("# never run", outputs=[output]))
    write_notebook(lab.root / "untrusted.ipynb", cells)
    try:
        report = drive(lab, "untrusted", "untrusted.ipynb", FOREIGN_URL=foreign_host,
                       EXPECTED_OUTPUTS=str(len(bundles)))
    finally:
        cleanup_kernels(lab)

    assert report["trustedCells"] == [False] * len(bundles)
    outputs = report["outputs"]
    assert len(outputs) == len(bundles)
    *refused, valid = outputs
    for bundle, output in zip(bundles, refused, strict=False):
        assert output["refused"], (bundle, output)
        assert output["links"] == [] and output["buttons"] == 0 and output["frames"] == 0, output
        assert output["clickable"] == 0, output
    assert "javascript:" in refused[0]["text"].lower()  # shown, as text
    # The renderer does render untrusted outputs: an address on this server is a link.
    assert valid["links"] == [f"http://127.0.0.1:{port}/sandbox/preview/{valid_kernel}/8000/"]
    assert not valid["refused"]
    # The open-preview command (what "Open in JupyterLab" calls) refuses a script address.
    assert report["commandRefusal"] == "executed"
    assert "Not a preview address" in report["commandDialog"]
    after = report["after"]
    assert after["marker"] == {"global": "undefined", "storage": None, "body": None}
    assert after["title"] == after["titleBefore"] != "JSB-PWNED"
    assert after["url"] == after["urlBefore"]
    assert after["foreignHits"] == 0
    assert after["panels"] == 0 and after["openPages"] == 1
    assert report["dialogs"] == []


# Own cookies, storage and absolute paths need an origin of the app's own: preview_host mode.
@pytest.mark.parametrize("lab", ["host"], indirect=True)
def test_benign_app_works_on_the_preview_host(lab: Lab) -> None:
    write_notebook(lab.root / "benign.ipynb", [nbformat.v4.new_code_cell(benign_app(lab.url))])
    try:
        report = drive(lab, "benign", "benign.ipynb")
        kernels, terminals = server_state(lab)
    finally:
        cleanup_kernels(lab)

    for where in ("newTab", "labTab"):
        checks = report[where]["checks"]
        assert checks["absoluteAsset"] and checks["serverCookie"], (where, checks)
        assert checks["jsCookie"] and checks["localStorage"], (where, checks)
        assert checks["webSocket"] is True, (where, checks)
        # The app sees its own cookies only: neither the preview credential nor Jupyter's.
        unwanted = r"jupyter-sandbox-preview|_xsrf|username-"
        assert not re.search(unwanted, checks["appSawCookie"]), checks
        for attempt in checks["jupyterApi"]:
            assert "error" in attempt or not attempt["ok"], (where, attempt)
    assert [k["name"] for k in kernels] == ["sandboxed-python"], kernels
    assert terminals == []
