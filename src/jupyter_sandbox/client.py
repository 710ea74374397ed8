"""A Python client for the sandbox service of a Jupyter server with jupyter_sandbox.

Async first::

    async with AsyncSandboxClient("http://localhost:8888/", token) as client:
        async with await client.create_sandbox() as sandbox:
            result = await sandbox.exec("print(1 + 1)", on_event=print)
            await sandbox.write_file("data.bin", b"...")

and the same synchronously (``SandboxClient``, ``Sandbox``), derived from the async one by
running it on a private event loop thread.

A preview app is reached with ``preview_client(port)``: an httpx client whose base URL is the
app's root, in either mode of the server — on the shared origin it sends the token to
``{base_url}sandbox/preview/{kernel}/{port}/``; with ``SandboxExtensionApp.preview_host`` it
opens the link as a browser does (302 to the preview's own origin with a one-time token, which
gives the preview's cookie) and then talks to that origin with the cookie, sending
``*.localhost`` names to 127.0.0.1 as browsers do.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

if TYPE_CHECKING:
    from .client_commands import AsyncCommands, Commands
    from .client_templates import AsyncTemplates, Templates

T = TypeVar("T")
Event = dict[str, Any]
API = "sandbox/api/v1/"
#: The preview origin's credential cookie (``preview_host`` mode).
PREVIEW_COOKIE = "jupyter-sandbox-preview"


class SandboxServiceError(RuntimeError):
    """The service answered with an error: ``status`` (HTTP), ``code`` (short, stable: branch on
    it), the ``message`` and a ``hint`` (what to do next, may be empty) — the fields of the
    server's one error envelope (``jupyter_sandbox.kernel.control_protocol.ErrorBody``)."""

    def __init__(self, status: int, code: str, message: str, what: str = "",
                 hint: str = "") -> None:
        text = f"{what + ': ' if what else ''}{message} (HTTP {status}, {code})"
        super().__init__(f"{text}. {hint}" if hint else text)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint


class SandboxAuthError(SandboxServiceError, PermissionError):
    """The server refused the token: check the URL and token (``jupyter server list``)."""


class SandboxNotFoundError(SandboxServiceError, LookupError):
    """No such sandbox, file or snapshot."""


class SandboxLimitError(SandboxServiceError):
    """A server limit: too many sandboxes (429) or a file too large (413)."""


class SandboxExecError(RuntimeError):
    """``ExecResult.raise_for_status()`` on code that raised inside the sandbox."""

    def __init__(self, ename: str, evalue: str, traceback: list[str]) -> None:
        super().__init__(f"the code raised {ename}: {evalue}")
        self.ename, self.evalue, self.traceback = ename, evalue, traceback


def _raise_for(response: httpx.Response, what: str) -> None:
    """Raise the error an answer stands for, from the server's error envelope
    (``{"message", "reason", "code", "hint"}``; any jupyter_server error has ``message``)."""
    if response.status_code < 400:
        return
    code, message, hint = "error", response.reason_phrase or "request failed", ""
    try:
        envelope = json.loads(response.content)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and isinstance(envelope.get("message"), str):
        message = envelope["message"]
        code = str(envelope.get("code") or code)
        hint = envelope["hint"] if isinstance(envelope.get("hint"), str) else ""
    cls = {401: SandboxAuthError, 403: SandboxAuthError, 404: SandboxNotFoundError,
           413: SandboxLimitError, 429: SandboxLimitError}.get(response.status_code,
                                                               SandboxServiceError)
    raise cls(response.status_code, code, message, what, hint)


@dataclass
class ExecResult:
    """What an exec produced: its events and the final ``execute_reply`` content."""

    events: list[Event] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.reply.get("status", "error"))

    @property
    def stdout(self) -> str:
        return self._stream("stdout")

    @property
    def stderr(self) -> str:
        return self._stream("stderr")

    def _stream(self, name: str) -> str:
        return "".join(e["content"]["text"] for e in self.events
                       if e["msg_type"] == "stream" and e["content"].get("name") == name)

    @property
    def result(self) -> Any:
        """The ``text/plain`` of the final expression's value, or None."""
        for event in self.events:
            if event["msg_type"] == "execute_result":
                return event["content"]["data"].get("text/plain")
        return None

    def raise_for_status(self) -> ExecResult:
        if self.status != "ok":
            raise SandboxExecError(self.reply.get("ename", "Error"), self.reply.get("evalue", ""),
                                   list(self.reply.get("traceback") or []))
        return self


# -- previews -------------------------------------------------------------------------------
class SandboxPreviewError(RuntimeError):
    """The server did not let the client into a preview (see the message for what it said)."""


def _loopback(request: httpx.Request) -> httpx.Request:
    """The request sent to 127.0.0.1 when its host is a ``*.localhost`` name, as browsers
    resolve them (the Host header, and TLS's server name, stay the preview's)."""
    host = request.url.host
    if not host.endswith(".localhost"):
        return request
    return httpx.Request(request.method, request.url.copy_with(host="127.0.0.1"),
                         headers=request.headers, stream=request.stream,
                         extensions={**request.extensions, "sni_hostname": host})


class _LoopbackTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return super().handle_request(_loopback(request))


class _AsyncLoopbackTransport(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await super().handle_async_request(_loopback(request))


class _PreviewCookie(httpx.Auth):
    """Adds the preview cookie to every request. It is ``Secure``, which httpx's cookie jar
    would not send over plain http, even to ``*.localhost`` where browsers do."""

    def __init__(self, value: str) -> None:
        self.value = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        cookie = f"{PREVIEW_COOKIE}={self.value}"
        mine = request.headers.get("Cookie")
        request.headers["Cookie"] = f"{mine}; {cookie}" if mine else cookie
        yield request


def _origin_redirect(link: httpx.Response) -> str:
    """The preview origin's sign-in URL the Jupyter-origin link redirected to."""
    location = link.headers.get("location", "")
    if link.status_code != 302 or not location:
        raise SandboxPreviewError(f"the preview link answered HTTP {link.status_code} instead "
                                  f"of a redirect to the preview's origin: {link.text[:200]}")
    return location


def _preview_session(signed_in: httpx.Response) -> tuple[str, str]:
    """(the preview origin's root URL, the preview cookie's value) from its sign-in answer."""
    for header in signed_in.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == PREVIEW_COOKIE:
            url = signed_in.url
            return f"{url.scheme}://{url.netloc.decode('ascii')}/", rest.split(";", 1)[0].strip()
    raise SandboxPreviewError(f"the preview origin answered HTTP {signed_in.status_code} without "
                              f"its cookie: {signed_in.text[:200]}")


def _transport_options(httpx_options: dict[str, Any]) -> dict[str, Any]:
    """The options httpx takes from the transport when one is given (taken out of
    ``httpx_options``): our loopback transport must get them instead."""
    return {name: httpx_options.pop(name) for name in ("limits", "verify", "cert", "http2")
            if name in httpx_options}


def preview_link(url: str, kernel_id: str, port: int) -> str:
    """The Jupyter-origin link of a kernel's preview app (``url`` is the server's base URL)."""
    return f"{url.rstrip('/')}/sandbox/preview/{kernel_id}/{int(port)}/"


async def open_preview(url: str, token: str | None, kernel_id: str, port: int, *,
                       own_origin: bool, **httpx_options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose base URL is the root of the preview app of
    ``kernel_id`` on ``port``: the link with the token (shared origin), or — ``own_origin``,
    the server has ``preview_host`` — the preview's own origin with its cookie, got by opening
    the link as a browser does. Close it when done."""
    link = preview_link(url, kernel_id, port)
    headers = {"Authorization": f"token {token}"} if token else {}
    if not own_origin:
        return httpx.AsyncClient(base_url=link, headers=headers, **httpx_options)
    pool = _transport_options(httpx_options)
    async with httpx.AsyncClient(transport=_AsyncLoopbackTransport(**pool),
                                 **httpx_options) as http:
        signed_in = await http.get(_origin_redirect(await http.get(link, headers=headers)))
    root, cookie = _preview_session(signed_in)
    return httpx.AsyncClient(base_url=root, auth=_PreviewCookie(cookie),
                             transport=_AsyncLoopbackTransport(**pool), **httpx_options)


def open_preview_sync(url: str, token: str | None, kernel_id: str, port: int, *,
                      own_origin: bool, **httpx_options: Any) -> httpx.Client:
    """``open_preview`` for synchronous callers: an ``httpx.Client``."""
    link = preview_link(url, kernel_id, port)
    headers = {"Authorization": f"token {token}"} if token else {}
    if not own_origin:
        return httpx.Client(base_url=link, headers=headers, **httpx_options)
    pool = _transport_options(httpx_options)
    with httpx.Client(transport=_LoopbackTransport(**pool), **httpx_options) as http:
        signed_in = http.get(_origin_redirect(http.get(link, headers=headers)))
    root, cookie = _preview_session(signed_in)
    return httpx.Client(base_url=root, auth=_PreviewCookie(cookie),
                        transport=_LoopbackTransport(**pool), **httpx_options)


def _file_url(sandbox_id: str, path: str) -> str:
    return f"sandboxes/{sandbox_id}/files/{urllib.parse.quote(path, safe='')}"


class AsyncSandbox:
    """One sandbox of the service. ``async with`` deletes it at the end."""

    def __init__(self, client: AsyncSandboxClient, info: dict[str, Any]) -> None:
        self.client = client
        self.info = info

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def kernel_id(self) -> str | None:
        return self.info.get("kernel_id")

    def __repr__(self) -> str:
        return f"<AsyncSandbox {self.id} ({self.info.get('state')})>"

    async def refresh(self) -> dict[str, Any]:
        self.info = await self.client._json("GET", f"sandboxes/{self.id}", what="sandbox")
        return self.info

    @property
    def commands(self) -> AsyncCommands:
        """Processes in the sandbox: ``run``, ``start``, ``list``, ``get``, ``connect``
        (``client_commands.AsyncCommands``)."""
        from .client_commands import AsyncCommands

        return AsyncCommands(self)

    async def exec_stream(self, code: str, language: str = "python"
                          ) -> AsyncGenerator[Event, None]:
        """Yield each Jupyter-shaped event as the sandbox produces it, the last one being the
        ``execute_reply``. ``language="javascript"`` runs the code as ``node -e``."""
        body = {"code": code} if language == "python" else {"code": code, "language": language}
        async with self.client.http.stream("POST", f"sandboxes/{self.id}/exec",
                                           json=body, timeout=None) as response:
            if response.status_code >= 400:
                await response.aread()
                _raise_for(response, f"exec in sandbox {self.id}")
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)

    async def exec(self, code: str, on_event: Callable[[Event], Any] | None = None, *,
                   language: str = "python") -> ExecResult:
        """Run ``code``; ``on_event`` (sync or async) sees every event as it arrives.
        ``language``: ``"python"`` (a cell of the sandbox's kernel) or ``"javascript"``
        (``node -e`` in the sandbox: its output as stream events, status ``error`` with
        ``ename`` ``JavaScriptError`` for a non-zero exit)."""
        result = ExecResult()
        async for event in self.exec_stream(code, language):
            if event["msg_type"] == "execute_reply":
                result.reply = event["content"]
            else:
                result.events.append(event)
            if on_event is not None:
                outcome = on_event(event)
                if inspect.isawaitable(outcome):
                    await outcome
        return result

    async def interrupt(self) -> None:
        await self.client._request("POST", f"sandboxes/{self.id}/interrupt", what="interrupt")

    async def keep_alive(self, timeout: float | None = None) -> dict[str, Any]:
        """Reset the sandbox's idle timer and restart its lifetime (``timeout``: a new one, in
        seconds from now); returns its record. A stopped sandbox stays stopped until used."""
        body = {} if timeout is None else {"timeout": timeout}
        self.info = await self.client._json("POST", f"sandboxes/{self.id}/keep_alive",
                                            json=body, what="keep_alive")
        return self.info

    async def write_file(self, path: str, data: bytes | str) -> dict[str, Any]:
        content = data.encode() if isinstance(data, str) else bytes(data)
        response = await self.client._request(
            "PUT", _file_url(self.id, path), content=content, what=f"write {path!r}",
            headers={"Content-Type": "application/octet-stream"})
        return response.json()

    async def read_file(self, path: str) -> bytes:
        async with self.client.http.stream("GET", _file_url(self.id, path)) as response:
            if response.status_code >= 400:
                await response.aread()
                _raise_for(response, f"read {path!r}")
            chunks = [chunk async for chunk in response.aiter_bytes()]
        return b"".join(chunks)

    async def list_files(self, path: str = "/workspace") -> list[dict[str, Any]]:
        listing = await self.client._json("GET", _file_url(self.id, path) + "?list",
                                          what=f"list {path!r}")
        return list(listing["files"])

    async def delete_file(self, path: str, recursive: bool = False) -> None:
        await self.client._request("DELETE", _file_url(self.id, path)
                                   + ("?recursive" if recursive else ""), what=f"delete {path!r}")

    async def previews(self) -> list[dict[str, Any]]:
        return list((await self.client._json("GET", f"sandboxes/{self.id}/previews",
                                             what="previews"))["previews"])

    def preview_url(self, port: int, path: str = "") -> str:
        """The link of the preview app on ``port``, on the Jupyter origin (a browser opens it
        logged in; a program uses ``preview_client``)."""
        if not self.kernel_id:
            raise RuntimeError(f"sandbox {self.id} is stopped; refresh() it after using it")
        return (f"{self.client.url}sandbox/preview/{self.kernel_id}/{int(port)}/"
                f"{path.lstrip('/')}")

    async def preview_client(self, port: int, **httpx_options: Any) -> httpx.AsyncClient:
        """An httpx client for the preview app on ``port``, its base URL the app's root (so
        ``await preview.get("api/items")`` reaches the app's ``/api/items``), in either mode
        of the server. Close it (``async with``) when done."""
        self.preview_url(port)  # a stopped sandbox says so
        own_origin = await self.client.preview_host() is not None
        return await open_preview(self.client.url, self.client.token, str(self.kernel_id), port,
                                  own_origin=own_origin,
                                  **{"timeout": self.client.timeout, **httpx_options})

    async def snapshot(self, name: str) -> dict[str, Any]:
        return await self.client._json("POST", f"sandboxes/{self.id}/snapshots",
                                       json={"name": name}, what=f"snapshot {name!r}")

    async def snapshots(self) -> list[dict[str, Any]]:
        return list((await self.client._json("GET", f"sandboxes/{self.id}/snapshots",
                                             what="snapshots"))["snapshots"])

    async def pip(self, action: str, *args: str) -> dict[str, Any]:
        """``%pip`` by API: ``install`` (pip's arguments), ``uninstall`` (names) or ``list``.
        Returns ``{"result": [...], "output": [...]}``; a refusal raises
        ``SandboxServiceError`` (HTTP 400) with pip's or the policy's message."""
        return dict(await self.client._json("POST", f"sandboxes/{self.id}/packages",
                                            json={"action": action, "args": list(args)},
                                            what=f"pip {action}"))

    async def network(self) -> dict[str, Any]:
        """The sandbox's network: ``{"policy", "administrator", "connections",
        "open_connections", "bytes"}`` (connections: recent attempts, newest last, each with
        host, address, port, allowed, reason and bytes)."""
        return dict(await self.client._json("GET", f"sandboxes/{self.id}/network",
                                            what="network"))

    async def update_network(self, *, enabled: bool | None = None,
                             allow: list[str] | None = None, deny: list[str] | None = None,
                             **limits: int) -> dict[str, Any]:
        """Change the network policy from the next connection on (E2B's ``updateNetwork``):
        ``allow``/``deny`` rules (``"api.example.com:443"``, ``"*.example.com"``,
        ``"10.0.0.0/8"``), ``enabled``, lower ``max_connections``/``max_bytes_per_cell``/
        ``max_bytes_per_sandbox``. Only within the administrator's policy: a wider one raises
        ``SandboxServiceError`` (403 ``network_not_permitted``), a bad rule 400."""
        body: dict[str, Any] = dict(limits)
        for name, value in (("enabled", enabled), ("allow", allow), ("deny", deny)):
            if value is not None:
                body[name] = list(value) if isinstance(value, (list, tuple)) else value
        return dict(await self.client._json("PUT", f"sandboxes/{self.id}/network", json=body,
                                            what="update the network policy"))

    async def fork(self, metadata: dict[str, Any] | None = None) -> AsyncSandbox:
        body = {} if metadata is None else {"metadata": metadata}
        info = await self.client._json("POST", f"sandboxes/{self.id}/fork", json=body,
                                       what="fork")
        return AsyncSandbox(self.client, info)

    async def delete(self) -> None:
        """Stop and delete the sandbox (a sandbox already gone is fine)."""
        try:
            await self.client._request("DELETE", f"sandboxes/{self.id}", what="delete")
        except SandboxNotFoundError:
            pass

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.delete()


class AsyncSandboxClient:
    """The service of one Jupyter server (``url`` is its base URL, ``token`` its token)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 300.0,
                 **httpx_options: Any) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = token
        self.timeout = timeout
        headers = {"Authorization": f"token {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=self.url + API, headers=headers,
                                      timeout=timeout, **httpx_options)
        self._preview_host: str | None | bool = False  # False: not asked yet

    async def _request(self, method: str, url: str, what: str = "",
                       **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)
        _raise_for(response, what)
        return response

    async def _json(self, method: str, url: str, what: str = "", **kwargs: Any) -> Any:
        return (await self._request(method, url, what, **kwargs)).json()

    async def create_sandbox(self, *, limits: dict[str, Any] | None = None,
                             metadata: dict[str, Any] | None = None,
                             from_snapshot: tuple[str, str] | None = None,
                             timeout: float | None = None, idle_timeout: float | None = None,
                             on_timeout: str | None = None,
                             template: str | None = None,
                             network: dict[str, Any] | None = None) -> AsyncSandbox:
        """A new running sandbox; ``from_snapshot`` = (sandbox id, snapshot name), or
        ``template``: the name of a template (``templates``) it starts from.
        ``timeout`` (seconds it may run from its start, resume or last ``keep_alive``) and
        ``idle_timeout`` (seconds unused; 0: no limit), then ``on_timeout``: ``"stop"``
        (snapshot and stop it; the next call resumes it) or ``"delete"``; unset: the
        server's defaults. ``network``: a policy within the administrator's
        (``{"enabled": True, "allow": ["api.example.com:443"]}``, see ``update_network``)."""
        body: dict[str, Any] = {}
        if limits is not None:
            body["limits"] = limits
        if network is not None:
            body["network"] = network
        if metadata is not None:
            body["metadata"] = metadata
        for name, value in (("timeout", timeout), ("idle_timeout", idle_timeout),
                            ("on_timeout", on_timeout)):
            if value is not None:
                body[name] = value
        if from_snapshot is not None:
            body["from_snapshot"] = {"sandbox_id": from_snapshot[0], "name": from_snapshot[1]}
        if template is not None:
            body["template"] = template
        info = await self._json("POST", "sandboxes", json=body, what="create a sandbox")
        return AsyncSandbox(self, info)

    #: ``create(template="name")`` reads as the other services' clients do.
    create = create_sandbox

    @property
    def templates(self) -> AsyncTemplates:
        """The server's templates (``client_templates.AsyncTemplates``)."""
        from .client_templates import AsyncTemplates

        return AsyncTemplates(self)

    async def pool_stats(self) -> dict[str, Any]:
        """The warm pool's statistics: ``idle``, ``starting``, ``in_use``, ``hits``,
        ``misses``, ``handover_p50_ms``... (``GET sandbox/api/v1/pool``)."""
        stats: dict[str, Any] = await self._json("GET", "pool", what="pool statistics")
        return stats

    async def preview_host(self) -> str | None:
        """The server's preview host pattern (``SandboxExtensionApp.preview_host``), None
        when previews share the Jupyter origin; asked once."""
        if self._preview_host is False:
            response = await self.http.get(self.url + "sandbox/api/preview-settings")
            _raise_for(response, "preview settings")
            self._preview_host = response.json().get("preview_host")
        host = self._preview_host
        return host if isinstance(host, str) and host else None

    async def get_sandbox(self, sandbox_id: str) -> AsyncSandbox:
        return AsyncSandbox(self, await self._json("GET", f"sandboxes/{sandbox_id}",
                                                   what="sandbox"))

    async def list_sandboxes(self) -> list[AsyncSandbox]:
        listing = await self._json("GET", "sandboxes", what="list sandboxes")
        return [AsyncSandbox(self, info) for info in listing["sandboxes"]]

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncSandboxClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


# -- synchronous wrappers ------------------------------------------------------------------
class _LoopThread:
    """An event loop on a daemon thread that runs the async client for sync callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sandbox-client",
                                       daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class Sandbox:
    """The synchronous ``AsyncSandbox``; ``with`` deletes it at the end."""

    def __init__(self, client: SandboxClient, sandbox: AsyncSandbox) -> None:
        self._client = client
        self._async = sandbox

    id = property(lambda self: self._async.id)
    kernel_id = property(lambda self: self._async.kernel_id)
    info = property(lambda self: self._async.info)

    def __repr__(self) -> str:
        return f"<Sandbox {self.id} ({self.info.get('state')})>"

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._client._loop.run(coro)

    @property
    def commands(self) -> Commands:
        """Processes in the sandbox: ``run``, ``start``, ``list``, ``get``, ``connect``
        (``client_commands.Commands``)."""
        from .client_commands import Commands

        return Commands(self, self._async.commands)

    def exec(self, code: str, on_event: Callable[[Event], Any] | None = None, *,
             language: str = "python") -> ExecResult:
        """Run ``code``; ``on_event`` is called (on the client's thread) for every event.
        ``language="javascript"`` runs it as ``node -e`` (see ``AsyncSandbox.exec``)."""
        return self._run(self._async.exec(code, on_event, language=language))

    def exec_stream(self, code: str, language: str = "python") -> Iterator[Event]:
        events = self._async.exec_stream(code, language)
        try:
            while True:
                try:
                    yield self._run(events.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._run(events.aclose())

    def refresh(self) -> dict[str, Any]:
        return self._run(self._async.refresh())

    def interrupt(self) -> None:
        self._run(self._async.interrupt())

    def keep_alive(self, timeout: float | None = None) -> dict[str, Any]:
        return self._run(self._async.keep_alive(timeout))

    def write_file(self, path: str, data: bytes | str) -> dict[str, Any]:
        return self._run(self._async.write_file(path, data))

    def read_file(self, path: str) -> bytes:
        return self._run(self._async.read_file(path))

    def list_files(self, path: str = "/workspace") -> list[dict[str, Any]]:
        return self._run(self._async.list_files(path))

    def delete_file(self, path: str, recursive: bool = False) -> None:
        self._run(self._async.delete_file(path, recursive))

    def previews(self) -> list[dict[str, Any]]:
        return self._run(self._async.previews())

    def preview_url(self, port: int, path: str = "") -> str:
        return self._async.preview_url(port, path)

    def preview_client(self, port: int, **httpx_options: Any) -> httpx.Client:
        """A synchronous ``AsyncSandbox.preview_client``: an ``httpx.Client`` whose base URL
        is the root of the app on ``port``, in either mode of the server (``with`` it)."""
        client = self._async.client
        self.preview_url(port)  # a stopped sandbox says so
        own_origin = self._run(client.preview_host()) is not None
        return open_preview_sync(client.url, client.token, str(self.kernel_id), port,
                                 own_origin=own_origin,
                                 **{"timeout": client.timeout, **httpx_options})

    def snapshot(self, name: str) -> dict[str, Any]:
        return self._run(self._async.snapshot(name))

    def snapshots(self) -> list[dict[str, Any]]:
        return self._run(self._async.snapshots())

    def pip(self, action: str, *args: str) -> dict[str, Any]:
        return self._run(self._async.pip(action, *args))

    def network(self) -> dict[str, Any]:
        return self._run(self._async.network())

    def update_network(self, *, enabled: bool | None = None, allow: list[str] | None = None,
                       deny: list[str] | None = None, **limits: int) -> dict[str, Any]:
        return self._run(self._async.update_network(enabled=enabled, allow=allow, deny=deny,
                                                    **limits))

    def fork(self, metadata: dict[str, Any] | None = None) -> Sandbox:
        return Sandbox(self._client, self._run(self._async.fork(metadata)))

    def delete(self) -> None:
        self._run(self._async.delete())

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.delete()


class SandboxClient:
    """The synchronous ``AsyncSandboxClient``: ``SandboxClient(url, token)``; ``close()`` (or
    ``with``) ends it."""

    def __init__(self, url: str, token: str | None = None, **options: Any) -> None:
        self._loop = _LoopThread()
        self._async = self._loop.run(_make_client(url, token, options))
        self.url = self._async.url

    def create_sandbox(self, *, limits: dict[str, Any] | None = None,
                       metadata: dict[str, Any] | None = None,
                       from_snapshot: tuple[str, str] | None = None,
                       timeout: float | None = None, idle_timeout: float | None = None,
                       on_timeout: str | None = None, template: str | None = None,
                       network: dict[str, Any] | None = None) -> Sandbox:
        return Sandbox(self, self._loop.run(self._async.create_sandbox(
            limits=limits, metadata=metadata, from_snapshot=from_snapshot, timeout=timeout,
            idle_timeout=idle_timeout, on_timeout=on_timeout, template=template,
            network=network)))

    #: ``create(template="name")`` reads as the other services' clients do.
    create = create_sandbox

    @property
    def templates(self) -> Templates:
        """The server's templates (``client_templates.Templates``)."""
        from .client_templates import Templates

        return Templates(self, self._async.templates)

    def pool_stats(self) -> dict[str, Any]:
        """The warm pool's statistics (``AsyncSandboxClient.pool_stats``)."""
        return self._loop.run(self._async.pool_stats())

    def get_sandbox(self, sandbox_id: str) -> Sandbox:
        return Sandbox(self, self._loop.run(self._async.get_sandbox(sandbox_id)))

    def list_sandboxes(self) -> list[Sandbox]:
        return [Sandbox(self, s) for s in self._loop.run(self._async.list_sandboxes())]

    def close(self) -> None:
        if not self._loop.loop.is_closed():
            self._loop.run(self._async.aclose())
            self._loop.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


async def _make_client(url: str, token: str | None, options: dict[str, Any]) -> AsyncSandboxClient:
    return AsyncSandboxClient(url, token, **options)


__all__ = ["AsyncSandbox", "AsyncSandboxClient", "ExecResult", "Sandbox", "SandboxAuthError",
           "SandboxClient", "SandboxExecError", "SandboxLimitError", "SandboxNotFoundError",
           "SandboxPreviewError", "SandboxServiceError", "open_preview", "open_preview_sync",
           "preview_link"]
