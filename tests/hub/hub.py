"""A real JupyterHub for the tests: the hub, its configurable-http-proxy and each user's
single-user server (``jupyterhub-singleuser`` from this venv, with our extension and the
``sandboxed-python`` kernelspec as a normal install has them), all on 127.0.0.1 with free ports.

* :func:`running_hub` starts it (``DummyAuthenticator`` with a password, users alice and bob,
  ``SimpleLocalProcessSpawner`` with a home folder per user under the hub's temporary folder)
  and stops everything it started — hub, proxy, single-user servers and their kernels — even
  when the hub does not stop cleanly.
* :class:`Hub` talks to the hub's REST API with a service token of the harness (start, stop and
  wait for a user's server, issue a user's API token) and logs users in.
* :class:`UserSession` is one user's browser: the hub's login cookies, then the single-user
  server's OAuth cookies, with the XSRF token sent the way JupyterHub's pages send it.
* :func:`run_cell` runs a cell over a kernel's websocket at
  ``/user/{name}/api/kernels/{id}/channels``.

The configurable-http-proxy comes from ``tests/hub/node_modules`` (``tests/hub/package.json``,
installed by ``make test``'s install chain, or ``cd tests/hub && npm ci``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.sync.client import ClientConnection, connect

from tests.jupyter_process import free_port

HERE = Path(__file__).resolve().parent
PROXY_COMMAND = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
VENV_BIN = Path(sys.executable).parent
CACHE_DIR = os.environ.get("JUPYTER_SANDBOX_CACHE_DIR",
                           str(HERE.parent.parent / ".cache" / "jupyter-sandbox"))
USERS = ("alice", "bob")
PASSWORD = "sandbox-hub-test-password"
#: Starting the hub or a single-user server on this loaded 2-core machine.
START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
#: The scopes of the harness's own hub service (start/stop servers, issue tokens).
HARNESS_SCOPES = ["admin:users", "admin:servers", "tokens", "list:users", "read:users",
                  "read:servers", "access:servers"]
#: What jupyterhub-idle-culler needs (its README), when run as the ``idle-culler`` service.
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]


class HubError(AssertionError):
    """The hub or a user's server did not do what the test waited for; the message carries
    the end of the hub's log (single-user servers log there too)."""


def wait_for(condition: Callable[[], Any], what: str, timeout: float,
             on_timeout: Callable[[], str] = lambda: "") -> Any:
    """Return ``condition()``'s first truthy value; fail after ``timeout`` seconds saying
    ``what`` was awaited (plus ``on_timeout()``, e.g. the hub's log)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise HubError(f"timed out after {timeout:.0f} s waiting for {what}\n{on_timeout()}")
        pause.wait(0.1)


@dataclass
class Hub:
    url: str  # the proxy's public URL, ends with "/"
    api_url: str  # the hub's own API, http://127.0.0.1:{hub port}/hub/api (what services use)
    base: Path
    token: str  # the harness service's token
    culler_token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def home(self, user: str) -> Path:
        """The user's home folder (the single-user server's root and ``$HOME``)."""
        return self.base / "home" / user

    def log_tail(self, lines: int = 80) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "--- hub log (end) ---\n" + "\n".join(text.splitlines()[-lines:])

    def api(self) -> httpx.Client:
        """The hub's REST API (through the proxy) as the harness service."""
        return httpx.Client(base_url=f"{self.url}hub/api/", timeout=60,
                            headers={"Authorization": f"token {self.token}"})

    def user_model(self, user: str) -> dict:
        with self.api() as api:
            response = api.get(f"users/{user}")
            response.raise_for_status()
            return response.json()

    def server_ready(self, user: str) -> bool:
        server = self.user_model(user)["servers"].get("")
        return bool(server and server.get("ready"))

    def start_server(self, user: str, timeout: float = START_TIMEOUT) -> None:
        """Start the user's default server (nothing to do if it runs) and return once the hub
        says it is ready; the hub's progress stream tells, no polling."""
        with self.api() as api:
            response = api.post(f"users/{user}/server")
            if response.status_code == 400 and "already running" in response.text:
                return
            if response.status_code not in (201, 202):
                raise HubError(f"starting {user}'s server: {response.status_code} "
                               f"{response.text}\n{self.log_tail()}")
            if response.status_code == 202:
                self._follow_progress(api, user, timeout)
        if not self.server_ready(user):
            raise HubError(f"{user}'s server is not ready after its start\n{self.log_tail()}")

    def _follow_progress(self, api: httpx.Client, user: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with api.stream("GET", f"users/{user}/server/progress",
                        timeout=httpx.Timeout(60, read=timeout)) as events:
            for line in events.iter_lines():
                if time.monotonic() > deadline:
                    break
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("ready"):
                    return
                if event.get("failed"):
                    raise HubError(f"{user}'s server failed to start: {event}\n"
                                   f"{self.log_tail()}")
        raise HubError(f"{user}'s server did not become ready in {timeout:.0f} s\n"
                       f"{self.log_tail()}")

    def stop_server(self, user: str, timeout: float = STOP_TIMEOUT) -> None:
        with self.api() as api:
            response = api.delete(f"users/{user}/server")
            if response.status_code not in (202, 204, 400):
                response.raise_for_status()
        self.wait_server_stopped(user, timeout)

    def wait_server_stopped(self, user: str, timeout: float = STOP_TIMEOUT) -> None:
        wait_for(lambda: not self.user_model(user)["servers"], f"{user}'s server to stop",
                 timeout, self.log_tail)

    def new_token(self, user: str, scopes: list[str], note: str = "test") -> str:
        """A hub API token owned by ``user`` with exactly ``scopes``
        (``POST /hub/api/users/{name}/tokens``, issued by the harness service)."""
        with self.api() as api:
            response = api.post(f"users/{user}/tokens",
                                json={"scopes": scopes, "note": note, "expires_in": 3600})
            if response.status_code != 201:
                raise HubError(f"token for {user}: {response.status_code} {response.text}")
            return response.json()["token"]

    def login(self, user: str, password: str = PASSWORD) -> UserSession:
        session = UserSession(self, user)
        try:
            session.login(password)
        except BaseException:
            session.close()
            raise
        return session

    @contextlib.contextmanager
    def idle_culler(self, timeout: int = 1, every: int = 1) -> Iterator[subprocess.Popen[bytes]]:
        """Run ``jupyterhub-idle-culler`` as the hub's (externally managed) ``idle-culler``
        service with a short ``--timeout``; stop it on exit. Run while the test waits for the
        cull, so the culler cannot stop a server in the middle of another step."""
        env = {**os.environ, "JUPYTERHUB_API_TOKEN": self.culler_token,
               "JUPYTERHUB_API_URL": self.api_url, "JUPYTERHUB_SERVICE_NAME": "idle-culler"}
        log = (self.base / "culler.log").open("ab")
        culler = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={timeout}",
             f"--cull-every={every}", f"--url={self.api_url}"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield culler
        finally:
            _stop_process(culler)
            log.close()

    def culler_log(self) -> str:
        path = self.base / "culler.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _xsrf_for(cookies: httpx.Cookies, path: str) -> str | None:
    """The ``_xsrf`` cookie that applies to ``path`` (the hub's is on ``/hub/``, each
    single-user server's on ``/user/{name}/``): the one with the longest matching path."""
    best: tuple[int, str] | None = None
    for cookie in cookies.jar:
        if cookie.name == "_xsrf" and cookie.value and path.startswith(cookie.path):
            if best is None or len(cookie.path) > best[0]:
                best = (len(cookie.path), cookie.value)
    return best[1] if best else None


@dataclass
class UserSession:
    """One user's browser session: hub login cookies, then the single-user server's."""

    hub: Hub
    user: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.hub.url, timeout=60,
                                   event_hooks={"request": [self._add_xsrf]})

    def _add_xsrf(self, request: httpx.Request) -> None:
        token = _xsrf_for(self.client.cookies, request.url.path)
        if token and "X-XSRFToken" not in request.headers:
            request.headers["X-XSRFToken"] = token

    @property
    def prefix(self) -> str:
        """The user's server below the proxy: ``user/{name}/``."""
        return f"user/{self.user}/"

    def login(self, password: str) -> None:
        """The hub's login form: GET sets the ``_xsrf`` cookie and the form's hidden field,
        POST with both logs in (302, the hub's login cookie)."""
        form = self.client.get("hub/login")
        form.raise_for_status()
        match = re.search(r'name="_xsrf"\s+value="([^"]+)"', form.text)
        data = {"username": self.user, "password": password}
        if match:
            data["_xsrf"] = match.group(1)
        response = self.client.post("hub/login", data=data)
        if response.status_code != 302 or "jupyterhub-hub-login" not in self.client.cookies:
            raise HubError(f"login of {self.user} refused: {response.status_code} "
                           f"{response.text[:500]}")

    def open_server(self) -> httpx.Response:
        """Open the user's server as a browser does (a navigation, following the hub's OAuth
        redirects): afterwards the session holds the server's cookies, ``_xsrf`` included."""
        response = self.client.get(self.prefix, follow_redirects=True,
                                   headers={"Sec-Fetch-Mode": "navigate",
                                            "Sec-Fetch-Dest": "document"})
        return response

    def server_api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request to ``/user/{name}/{path}`` with this session's cookies."""
        return self.client.request(method, f"{self.prefix}{path}", **kwargs)

    def start_kernel(self, name: str = "sandboxed-python") -> str:
        response = self.server_api("POST", "api/kernels", json={"name": name})
        if response.status_code != 201:
            raise HubError(f"kernel start: {response.status_code} {response.text[:500]}")
        return response.json()["id"]

    def open_session(self, path: str, kernel: str = "sandboxed-python") -> str:
        """A notebook session (``api/sessions``) for ``path``; its kernel's id."""
        response = self.server_api("POST", "api/sessions", json={
            "path": path, "name": Path(path).name, "type": "notebook",
            "kernel": {"name": kernel}})
        if response.status_code != 201:
            raise HubError(f"session for {path}: {response.status_code} {response.text[:500]}")
        return response.json()["kernel"]["id"]

    def channels(self, kernel_id: str) -> ClientConnection:
        """The kernel's websocket through the hub's proxy, with this session's cookies."""
        url = httpx.URL(f"{self.hub.url}{self.prefix}api/kernels/{kernel_id}/channels")
        request = httpx.Request("GET", url)
        self.client.cookies.set_cookie_header(request)
        headers = {"Cookie": request.headers.get("Cookie", "")}
        token = _xsrf_for(self.client.cookies, url.path)
        if token:
            headers["X-XSRFToken"] = token
        origin = f"{url.scheme}://{url.netloc.decode()}"
        return connect(str(url.copy_with(scheme="ws")), additional_headers=headers,
                       origin=origin,  # type: ignore[arg-type]
                       open_timeout=60, max_size=None)

    def run(self, kernel_id: str, code: str, timeout: float = 120) -> CellResult:
        with self.channels(kernel_id) as socket:
            return run_cell(socket, code, timeout)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> UserSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class CellResult:
    reply: dict
    outputs: list[dict]  # iopub messages of the cell other than status and execute_input

    @property
    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.outputs
                       if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")

    @property
    def text(self) -> str:
        """Everything the cell showed as text: streams, text/plain and text/html data."""
        parts = []
        for message in self.outputs:
            content = message["content"]
            parts.append(content.get("text", ""))
            for mime in ("text/plain", "text/html", "text/markdown"):
                parts.append(str((content.get("data") or {}).get(mime, "")))
        return "".join(parts)

    def check(self) -> CellResult:
        errors = [m["content"] for m in self.outputs if m["msg_type"] == "error"]
        if self.reply.get("status") != "ok":
            raise AssertionError(f"cell failed: {self.reply} {errors}")
        return self


def run_cell(socket: ClientConnection, code: str, timeout: float = 120) -> CellResult:
    """Send ``code`` as an execute_request over the kernel's websocket (Jupyter's JSON
    websocket protocol); collect its outputs until the kernel is idle and has replied."""
    msg_id = uuid.uuid4().hex
    socket.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    deadline = time.monotonic() + timeout
    reply: dict | None = None
    idle = False
    outputs: list[dict] = []
    while reply is None or not idle:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HubError(f"cell did not finish in {timeout:.0f} s: {code[:200]!r}; "
                           f"outputs so far {outputs}")
        try:
            raw = socket.recv(timeout=remaining)
        except TimeoutError:
            continue
        message = json.loads(raw)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message["msg_type"]
        if message.get("channel") == "shell" and kind == "execute_reply":
            reply = message["content"]
        elif kind == "status":
            idle = message["content"]["execution_state"] == "idle"
        elif kind != "execute_input":
            outputs.append(message)
    return CellResult(reply, outputs)


def _stop_process(process: subprocess.Popen[bytes] | psutil.Process,
                  timeout: float = 30) -> None:
    with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
            process.kill()
            process.wait(timeout=timeout)


def _config(base: Path, ports: dict[str, int], token: str, culler_token: str) -> str:
    """The hub's ``jupyterhub_config.py`` (values as Python literals)."""
    home = str(base / "home" / "{username}")
    runtime = str(base / "rt")
    return f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports["proxy"]}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports["hub"]}
c.JupyterHub.db_url = {f"sqlite:///{base / 'jupyterhub.sqlite'}"!r}
c.JupyterHub.cookie_secret_file = {str(base / "cookie_secret")!r}
c.JupyterHub.pid_file = {str(base / "jupyterhub.pid")!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.ConfigurableHTTPProxy.command = [{str(PROXY_COMMAND)!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
c.ConfigurableHTTPProxy.auth_token = {secrets.token_hex(16)!r}
c.ConfigurableHTTPProxy.pid_file = {str(base / "proxy.pid")!r}
c.ConfigurableHTTPProxy.should_start = True

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {PASSWORD!r}
c.Authenticator.allowed_users = {set(USERS)!r}

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {home!r}
c.Spawner.cmd = [{str(VENV_BIN / "jupyterhub-singleuser")!r}]
c.Spawner.args = ["--allow-root"]
c.Spawner.start_timeout = {int(START_TIMEOUT)}
c.Spawner.http_timeout = {int(START_TIMEOUT)}
# A short runtime folder per user: kernels' control sockets live there (Unix socket paths
# must stay under 108 bytes); the data folder (snapshots, checkpoints) stays in the home.
c.Spawner.environment = {{
    "JUPYTER_SANDBOX_CACHE_DIR": {CACHE_DIR!r},
    "JUPYTER_RUNTIME_DIR": lambda spawner: {runtime!r} + "/" + spawner.user.name,
}}

c.JupyterHub.services = [
    {{"name": "harness", "api_token": {token!r}}},
    {{"name": "idle-culler", "api_token": {culler_token!r}}},
]
c.JupyterHub.load_roles = [
    {{"name": "harness", "scopes": {HARNESS_SCOPES!r}, "services": ["harness"]}},
    {{"name": "idle-culler", "scopes": {CULLER_SCOPES!r}, "services": ["idle-culler"]}},
]
"""


@contextlib.contextmanager
def running_hub(base: Path) -> Iterator[Hub]:
    """Start a hub whose database, homes and logs are under ``base``; stop it and everything
    it started on exit."""
    if not PROXY_COMMAND.exists():
        raise HubError(f"{PROXY_COMMAND} is missing: install the hub tests' node packages "
                       "(`make test` does; or `cd tests/hub && npm ci`)")
    ports = {"proxy": free_port(), "hub": free_port(), "proxy_api": free_port()}
    if len(set(ports.values())) < 3:
        ports = {"proxy": free_port(), "hub": free_port(), "proxy_api": free_port()}
    token, culler_token = secrets.token_hex(16), secrets.token_hex(16)
    (base / "home").mkdir(parents=True, exist_ok=True)
    config = base / "jupyterhub_config.py"
    config.write_text(_config(base, ports, token, culler_token))
    log_path = base / "hub.log"
    log = log_path.open("ab")
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTERHUB_")}
    env.pop("JUPYTER_SANDBOX_SERVER_URL", None)
    process = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(config)], cwd=base,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    hub = Hub(f"http://127.0.0.1:{ports['proxy']}/",
              f"http://127.0.0.1:{ports['hub']}/hub/api", base, token, culler_token,
              process, log_path)
    try:
        def up() -> bool:
            if process.poll() is not None:
                raise HubError(f"jupyterhub exited ({process.returncode})\n{hub.log_tail()}")
            try:  # through the proxy: the proxy runs and routes to the hub
                return httpx.get(f"{hub.url}hub/api/", timeout=10).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, "the hub behind its proxy", START_TIMEOUT, hub.log_tail)
        yield hub
    finally:
        _stop_hub(process)
        log.close()


def _stop_hub(process: subprocess.Popen[bytes]) -> None:
    """Stop the hub (it stops the proxy and the single-user servers itself), then whatever
    it started that is still running (its children run in sessions of their own)."""
    try:
        started = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    _stop_process(process, STOP_TIMEOUT)
    for child in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            _stop_process(child, 10)


@contextlib.contextmanager
def hub_base() -> Iterator[Path]:
    """A short temporary folder (Unix socket paths), removed afterwards."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="jsh-", dir="/tmp"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)
