"""Commands in a sandbox, under ``{base_url}sandbox/api/v1/sandboxes/{id}/commands``: processes
inside the sandbox (the guest's ``python``, ``pip``, ``node``, built-in commands and its shell),
never a process on the host. Each route passes the request to the sandbox's kernel
(``control_protocol``'s ``/commands`` routes) and its answer back, streams as they come:

* ``POST .../commands`` ``{"cmd": [argv] | "shell line", "cwd", "env", "stdin",
  "stdin_base64", "keep_stdin_open", "timeout", "background"}`` → NDJSON (``start``,
  ``stdout``/``stderr`` lines, ``exit``), or with ``background`` 201 and the process at once;
* ``GET .../commands`` lists; ``GET .../commands/{pid}`` one; ``DELETE`` kills (204);
* ``GET .../commands/{pid}/logs`` (``?offset=N``) → the log from the start as NDJSON, live
  until the process ends (again from the start on every GET);
* ``POST .../commands/{pid}/stdin`` (the bytes; ``?close`` closes it after them) → 204.

A client that leaves a stream stops it upstream too (at the next output or keep-alive line
of the kernel): a foreground command is then killed, a log reader just ends.
"""

from __future__ import annotations

import base64
import codecs
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.httputil import HTTPHeaders

from jupyter_sandbox.kernel.control_protocol import MAX_STDIN_BYTES, NDJSON

from .base import ServiceHandler
from .errors import ServiceError
from .sandboxes import ID, PREFIX

PID = r"(?P<pid>[^/]+)"
#: Longest pid accepted in a URL (anything longer is no pid of any sandbox).
_MAX_PID_DIGITS = 18


def _ignore_failure(future: Any) -> None:
    future.exception()  # a client that left: nothing more to send it


class ClientGoneError(ConnectionError):
    """Raised in the upstream stream's callback to abort it once our own client left."""


def pid_path(pid: str, suffix: str = "") -> str:
    """The kernel route of process ``pid`` (digits only, else 404 as no such process)."""
    if not pid.isascii() or not pid.isdigit() or len(pid) > _MAX_PID_DIGITS:
        raise ServiceError(404, f"no process with pid {pid!r} in this sandbox",
                           hint="GET .../commands lists the sandbox's processes")
    return f"/commands/{int(pid)}{suffix}"


class StreamTranslator:
    """Turns a command stream into another NDJSON stream as it passes (``feed`` each chunk of
    the kernel's answer, ``end`` once): see ``JavaScriptExec``."""

    def feed(self, data: bytes) -> bytes:
        raise NotImplementedError

    def end(self, broke_off: bool) -> bytes:
        raise NotImplementedError


class JavaScriptExec(StreamTranslator):
    """``POST .../exec`` with ``"language": "javascript"``: the command stream of
    ``node -e CODE`` as the exec route's Jupyter-shaped messages — ``stream`` messages for
    its output, then an ``execute_reply`` (``ok`` for exit status 0, else ``error`` with
    ``ename`` ``JavaScriptError`` and the status; the error itself is on stderr)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.decoders = {name: codecs.getincrementaldecoder("utf-8")("replace")
                         for name in ("stdout", "stderr")}
        self.exit: dict[str, Any] | None = None

    @staticmethod
    def request(code: str) -> bytes:
        return json.dumps({"cmd": ["node", "-e", code]}).encode()

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return b"".join(self._message(line) for line in lines if line.strip())

    def _message(self, raw: bytes) -> bytes:
        try:
            line = json.loads(raw)
        except ValueError:
            return b""
        kind = line.get("type") if isinstance(line, dict) else None
        if kind in self.decoders:
            encoded = line.get("base64")
            chunk = (base64.b64decode(encoded) if isinstance(encoded, str)
                     else str(line.get("data", "")).encode("utf-8", "surrogatepass"))
            text = self.decoders[kind].decode(chunk)
            return self._stream(kind, text)
        if kind == "exit":
            self.exit = line
        return b""

    @staticmethod
    def _stream(name: str, text: str) -> bytes:
        if not text:
            return b""
        message = {"msg_type": "stream", "content": {"name": name, "text": text},
                   "metadata": {}}
        return json.dumps(message).encode() + b"\n"

    def end(self, broke_off: bool) -> bytes:
        tail = self.feed(b"\n")
        for name, decoder in self.decoders.items():
            tail += self._stream(name, decoder.decode(b"", final=True))
        content: dict[str, Any] = {"status": "ok", "execution_count": None}
        exit_code = None if self.exit is None else self.exit.get("exit_code")
        if broke_off or self.exit is None:
            content.update(status="error", ename="SandboxLost", traceback=[],
                           evalue="the sandbox's kernel stopped answering during the execution")
        elif exit_code != 0:
            content.update(status="error", ename="JavaScriptError", traceback=[],
                           evalue=f"node exited with status {exit_code} "
                                  f"({self.exit.get('state')})")
        reply = {"msg_type": "execute_reply", "content": content, "metadata": {}}
        return tail + json.dumps(reply).encode() + b"\n"


class CommandStreamHandler(ServiceHandler):
    """Relays an NDJSON command stream of the kernel, ending it upstream when the client left."""

    _client_gone = False

    def on_connection_close(self) -> None:
        self._client_gone = True
        super().on_connection_close()

    async def relay(self, sandbox_id: str, method: str, path: str, body: bytes | None,
                    translate: StreamTranslator | None = None) -> None:
        """Pass the kernel's NDJSON answer to ``path`` on as it arrives (through
        ``translate`` when given)."""
        record = self.registry.get(sandbox_id)

        def on_headers(_status: int, _reason: str, _headers: HTTPHeaders) -> None:
            self.set_header("Content-Type", NDJSON)
            self.set_header("Cache-Control", "no-store")
            self.set_header("X-Accel-Buffering", "no")  # a proxy in front must not buffer

        def on_chunk(data: bytes) -> None:
            if self._client_gone:
                raise ClientGoneError("the client of this command stream left")
            if translate is not None:
                data = translate.feed(data)
            self.write(data)
            self.flush().add_done_callback(_ignore_failure)

        async with self.registry.use(record) as kernel_id:
            status = await self.registry.control.stream(kernel_id, method, path, body,
                                                        on_headers, on_chunk)
        if self._client_gone:
            return
        if status >= 400:  # the kernel went away mid-stream: the client sees no exit line
            self.log.warning("jupyter_sandbox: a command stream of sandbox %s broke off "
                             "(HTTP %s)", sandbox_id, status)
        if translate is not None:
            self.write(translate.end(broke_off=status >= 400))
        self.finish(set_content_type=NDJSON)


class CommandsHandler(CommandStreamHandler):
    @web.authenticated
    @authorized
    async def get(self, sandbox_id: str) -> None:
        self.send_json(await self.kernel_json(sandbox_id, "GET", "/commands"))

    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str) -> None:
        body = self.json_body()
        data = json.dumps(body).encode()
        if body.get("background") is True:
            record = self.registry.get(sandbox_id)
            async with self.registry.use(record) as kernel_id:
                answer = await self.registry.control.request(kernel_id, "POST", "/commands",
                                                             data)
            self.send_json(json.loads(answer.body), 201)
            return
        await self.relay(sandbox_id, "POST", "/commands", data)


class CommandHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def get(self, sandbox_id: str, pid: str) -> None:
        path = pid_path(pid)
        self.send_json(await self.kernel_json(sandbox_id, "GET", path))

    @web.authenticated
    @authorized
    async def delete(self, sandbox_id: str, pid: str) -> None:
        path = pid_path(pid)
        record = self.registry.get(sandbox_id)
        async with self.registry.use(record) as kernel_id:
            await self.registry.control.request(kernel_id, "DELETE", path)
        self.set_status(204)
        self.finish()


class CommandLogsHandler(CommandStreamHandler):
    @web.authenticated
    @authorized
    async def get(self, sandbox_id: str, pid: str) -> None:
        offset = self.get_query_argument("offset", "0")
        if not offset.isascii() or not offset.isdigit():
            raise ServiceError(400, "?offset= must be a chunk index, 0 or more (the "
                                    "\"offset\" of a log line)")
        await self.relay(sandbox_id, "GET", pid_path(pid, f"/logs?offset={int(offset)}"), None)


class CommandStdinHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def post(self, sandbox_id: str, pid: str) -> None:
        path = pid_path(pid, "/stdin")
        if len(self.request.body) > MAX_STDIN_BYTES:
            raise ServiceError(413, f"at most {MAX_STDIN_BYTES} bytes of stdin per request",
                               "too_large", hint="send it in several requests")
        if "close" in self.request.arguments:
            path += "?close"
        record = self.registry.get(sandbox_id)
        async with self.registry.use(record) as kernel_id:
            await self.registry.control.request(kernel_id, "POST", path, self.request.body)
        self.set_status(204)
        self.finish()


ROUTES = [
    (PREFIX + rf"/sandboxes/{ID}/commands", CommandsHandler),
    (PREFIX + rf"/sandboxes/{ID}/commands/{PID}", CommandHandler),
    (PREFIX + rf"/sandboxes/{ID}/commands/{PID}/logs", CommandLogsHandler),
    (PREFIX + rf"/sandboxes/{ID}/commands/{PID}/stdin", CommandStdinHandler),
]
