"""Commands in a sandbox, for the Python client: ``sandbox.commands`` (``client.AsyncSandbox``
and ``client.Sandbox``). A command is a process *inside* the sandbox — the guest's ``python``,
``pip``, ``node``, its built-in commands (``ls``, ``cat``, ``grep``…) and its shell — never a
process on the host::

    result = sandbox.commands.run("ls *.csv | wc -l")            # a shell line
    result = sandbox.commands.run(["python", "-c", "print(1)"])   # an argv
    print(result.exit_code, result.stdout, result.stderr)

    server = sandbox.commands.start(["python", "-m", "http.server", "8000"])
    for chunk in server.logs():        # from the start; call again to re-attach
        print(chunk.text, end="")
    server.kill()

Names follow E2B's ``commands.run``/``CommandHandle`` (``wait``, ``kill``, ``send_stdin``) and
Cloudflare's ``exec``/``startProcess`` where they agree. The REST routes behind it are
``sandbox/api/v1/sandboxes/{id}/commands…`` (``server_extension/service/commands.py``).
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import inspect
import json
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .client import SandboxServiceError, _raise_for

if TYPE_CHECKING:
    from .client import AsyncSandbox, Sandbox

T = TypeVar("T")
#: What ``cmd`` may be: an argv (run as is) or a command line for the sandbox's shell.
Command = list[str] | tuple[str, ...] | str
#: ``on_stdout``/``on_stderr``: called with each piece of text as it arrives (sync or async).
OnText = Callable[[str], Any]


class CommandExitError(RuntimeError):
    """``CommandResult.check()`` on a command that did not exit with status 0."""

    def __init__(self, result: CommandResult) -> None:
        super().__init__(f"the command exited with status {result.exit_code} ({result.state})"
                         + (f": {result.stderr.strip()[-500:]}" if result.stderr.strip() else ""))
        self.result = result
        self.exit_code = result.exit_code


@dataclass(frozen=True)
class CommandChunk:
    """One piece of a process's output: ``stream`` (``stdout``/``stderr``), its exact bytes,
    and ``offset``, its index in the process's log (``logs(offset=...)`` starts there)."""

    stream: str
    data: bytes
    offset: int

    @property
    def text(self) -> str:
        """The bytes as UTF-8 (invalid bytes replaced; a character split between two chunks
        shows as replacement characters here — ``CommandResult.stdout`` joins first)."""
        return self.data.decode("utf-8", "replace")


@dataclass
class CommandResult:
    """How a command ended and everything it wrote. ``exit_code``: its status (127: a program
    the sandbox cannot run; -9 with ``state`` ``killed``: killed, or its time limit)."""

    exit_code: int | None
    stdout: str
    stderr: str
    pid: int | None = None
    state: str = "exited"
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> CommandResult:
        """``self`` when the command exited with 0, else ``CommandExitError``."""
        if self.exit_code != 0:
            raise CommandExitError(self)
        return self


@dataclass(frozen=True)
class CommandInfo:
    """A process of the sandbox as the service describes it (``commands.list()``/``get()``)."""

    pid: int
    argv: list[str]
    cwd: str
    state: str  # running | exited | killed
    exit_code: int | None
    started_at: float
    ended_at: float | None
    background: bool
    origin: str  # api | cell (started by the notebook's code)
    memory_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CommandInfo:
        known: dict[str, Any] = {name: body.get(name) for name in cls.__dataclass_fields__
                                 if name != "extra"}
        return cls(**known, extra={k: v for k, v in body.items() if k not in known})

    @property
    def running(self) -> bool:
        return self.state == "running"


def _chunk(line: dict[str, Any]) -> CommandChunk:
    """The chunk of an output line: its exact bytes are ``base64`` when present."""
    encoded = line.get("base64")
    data = (base64.b64decode(encoded) if isinstance(encoded, str)
            else str(line.get("data", "")).encode("utf-8", "surrogatepass"))
    return CommandChunk(str(line["type"]), data, int(line.get("offset", 0)))


def _command_body(cmd: Command, cwd: str | None, env: dict[str, str] | None,
                  stdin: str | bytes | None, timeout: float | None, background: bool,
                  keep_stdin_open: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"cmd": cmd if isinstance(cmd, str) else list(cmd)}
    if cwd is not None:
        body["cwd"] = cwd
    if env is not None:
        body["env"] = dict(env)
    if isinstance(stdin, str):
        body["stdin"] = stdin
    elif stdin is not None:
        body["stdin_base64"] = base64.b64encode(bytes(stdin)).decode("ascii")
    if timeout is not None:
        body["timeout"] = timeout
    if background:
        body["background"] = True
    if keep_stdin_open is not None:
        body["keep_stdin_open"] = keep_stdin_open
    return body


class _Collector:
    """Joins a command's chunks into its ``CommandResult`` and calls the text callbacks with
    whole characters (each stream decoded incrementally)."""

    def __init__(self, on_stdout: OnText | None = None, on_stderr: OnText | None = None) -> None:
        self.data = {"stdout": bytearray(), "stderr": bytearray()}
        self.callbacks = {"stdout": on_stdout, "stderr": on_stderr}
        self.decoders = {name: codecs.getincrementaldecoder("utf-8")("replace")
                         for name in self.data}
        self.pid: int | None = None
        self.exit: dict[str, Any] | None = None

    async def add(self, chunk: CommandChunk) -> None:
        self.data[chunk.stream].extend(chunk.data)
        await self._call(chunk.stream, self.decoders[chunk.stream].decode(chunk.data))

    async def _call(self, stream: str, text: str) -> None:
        callback = self.callbacks[stream]
        if callback is not None and text:
            outcome = callback(text)
            if inspect.isawaitable(outcome):
                await outcome

    async def result(self) -> CommandResult:
        for stream, decoder in self.decoders.items():
            await self._call(stream, decoder.decode(b"", final=True))
        if self.exit is None:
            raise SandboxServiceError(502, "sandbox_failed", "the command's output stream "
                                      "ended before its exit line (the sandbox's kernel may "
                                      "have stopped)", f"command {self.pid}")
        out, err = bytes(self.data["stdout"]), bytes(self.data["stderr"])
        return CommandResult(self.exit.get("exit_code"), out.decode("utf-8", "replace"),
                             err.decode("utf-8", "replace"), self.exit.get("pid", self.pid),
                             str(self.exit.get("state", "exited")), out, err)


class AsyncCommandHandle:
    """A process started with ``commands.start`` (or found with ``commands.connect``)."""

    def __init__(self, commands: AsyncCommands, pid: int,
                 info: CommandInfo | None = None) -> None:
        self.commands = commands
        self.pid = int(pid)
        self.info = info

    def __repr__(self) -> str:
        return f"<AsyncCommandHandle pid={self.pid}>"

    def _url(self, suffix: str = "") -> str:
        return f"{self.commands.url}/{self.pid}{suffix}"

    async def refresh(self) -> CommandInfo:
        """The process's state now (also kept as ``info``)."""
        self.info = await self.commands.get(self.pid)
        return self.info

    async def _lines(self, offset: int) -> AsyncGenerator[dict[str, Any], None]:
        async for line in self.commands._stream("GET", self._url(f"/logs?offset={offset}"),
                                                f"logs of command {self.pid}"):
            yield line

    async def logs(self, offset: int = 0) -> AsyncGenerator[CommandChunk, None]:
        """Every chunk of the process's output from the start (or from chunk ``offset``), live
        until it ends. Call again to re-attach: each call starts again from ``offset``."""
        async for line in self._lines(offset):
            if line.get("type") in ("stdout", "stderr"):
                yield _chunk(line)

    async def wait(self, timeout: float | None = None, *, on_stdout: OnText | None = None,
                   on_stderr: OnText | None = None) -> CommandResult:
        """Until the process ends: its ``CommandResult`` (all its output, from the start).
        ``TimeoutError`` after ``timeout`` seconds (the process keeps running)."""
        return await asyncio.wait_for(self._collect(on_stdout, on_stderr), timeout)

    async def _collect(self, on_stdout: OnText | None, on_stderr: OnText | None
                       ) -> CommandResult:
        collector = _Collector(on_stdout, on_stderr)
        collector.pid = self.pid
        async for line in self._lines(0):
            if line.get("type") in ("stdout", "stderr"):
                await collector.add(_chunk(line))
            elif line.get("type") == "exit":
                collector.exit = line
        return await collector.result()

    async def kill(self) -> None:
        """Stop the process at once (exit code -9, state ``killed``); nothing once it ended."""
        await self.commands.sandbox.client._request("DELETE", self._url(),
                                                    what=f"kill command {self.pid}")

    async def send_stdin(self, data: str | bytes) -> None:
        """Write to the process's stdin (text as UTF-8). ``SandboxServiceError`` 409
        ``stdin_closed`` once it is closed or the process ended."""
        content = data.encode() if isinstance(data, str) else bytes(data)
        await self.commands.sandbox.client._request(
            "POST", self._url("/stdin"), content=content, what=f"stdin of command {self.pid}",
            headers={"Content-Type": "application/octet-stream"})

    async def close_stdin(self) -> None:
        """Close the process's stdin: it reads end of input."""
        await self.commands.sandbox.client._request(
            "POST", self._url("/stdin?close"), content=b"", what=f"stdin of command {self.pid}")


class AsyncCommands:
    """``sandbox.commands`` of an ``AsyncSandbox``."""

    def __init__(self, sandbox: AsyncSandbox) -> None:
        self.sandbox = sandbox

    @property
    def url(self) -> str:
        return f"sandboxes/{self.sandbox.id}/commands"

    async def _stream(self, method: str, url: str, what: str, **kwargs: Any
                      ) -> AsyncGenerator[dict[str, Any], None]:
        """The JSON lines of a command stream (keep-alive blank lines skipped)."""
        http = self.sandbox.client.http
        async with http.stream(method, url, timeout=None, **kwargs) as response:
            if response.status_code >= 400:
                await response.aread()
                _raise_for(response, what)
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)

    async def run(self, cmd: Command, *, cwd: str | None = None, env: dict[str, str] | None = None,
                  stdin: str | bytes | None = None, timeout: float | None = None,
                  on_stdout: OnText | None = None, on_stderr: OnText | None = None
                  ) -> CommandResult:
        """Run ``cmd`` (an argv list, or a command line for the sandbox's shell: pipes,
        redirects, ``&&``, globs) to its end. ``stdin``: its whole input; ``timeout``:
        seconds, then it is killed; ``on_stdout``/``on_stderr`` see its output as it comes.
        A non-zero exit is a result, not an exception (``result.check()`` raises)."""
        collector = _Collector(on_stdout, on_stderr)
        body = _command_body(cmd, cwd, env, stdin, timeout, background=False)
        async for line in self._stream("POST", self.url, "run a command", json=body):
            kind = line.get("type")
            if kind == "start":
                collector.pid = int(line["pid"])
            elif kind in ("stdout", "stderr"):
                await collector.add(_chunk(line))
            elif kind == "exit":
                collector.exit = line
        return await collector.result()

    async def start(self, cmd: Command, *, cwd: str | None = None,
                    env: dict[str, str] | None = None, stdin: str | bytes | None = None,
                    timeout: float | None = None, keep_stdin_open: bool = True
                    ) -> AsyncCommandHandle:
        """Start ``cmd`` in the background and return at once: its handle (``pid``, ``logs()``,
        ``wait()``, ``send_stdin()``, ``kill()``). Its stdin stays open for ``send_stdin``
        unless ``keep_stdin_open=False``. The sandbox's process limit: ``SandboxLimitError``
        (429, ``too_many_processes``); its memory: ``SandboxServiceError`` 409
        ``memory_limit``; a program it cannot run: 400 ``program_not_found``."""
        body = _command_body(cmd, cwd, env, stdin, timeout, background=True,
                             keep_stdin_open=keep_stdin_open)
        answer = await self.sandbox.client._json("POST", self.url, json=body,
                                                 what="start a command")
        info = CommandInfo.from_json(answer)
        return AsyncCommandHandle(self, info.pid, info)

    async def list(self) -> list[CommandInfo]:
        """The sandbox's processes, running and recently ended (also those the notebook's
        own code started: ``origin`` ``cell``)."""
        listing = await self.sandbox.client._json("GET", self.url, what="list commands")
        return [CommandInfo.from_json(item) for item in listing["processes"]]

    async def get(self, pid: int) -> CommandInfo:
        """One process (``SandboxNotFoundError`` when the sandbox has none with ``pid``)."""
        return CommandInfo.from_json(await self.sandbox.client._json(
            "GET", f"{self.url}/{int(pid)}", what=f"command {pid}"))

    def connect(self, pid: int) -> AsyncCommandHandle:
        """A handle to the running (or ended) process ``pid``, e.g. from ``list()``."""
        return AsyncCommandHandle(self, pid)


# -- synchronous wrappers ------------------------------------------------------------------
def _iterate(run: Callable[[Coroutine[Any, Any, Any]], Any],
             generator: AsyncGenerator[T, None]) -> Iterator[T]:
    try:
        while True:
            try:
                yield run(generator.__anext__())
            except StopAsyncIteration:
                return
    finally:
        run(generator.aclose())


class CommandHandle:
    """The synchronous ``AsyncCommandHandle``."""

    def __init__(self, sandbox: Sandbox, handle: AsyncCommandHandle) -> None:
        self._sandbox = sandbox
        self._async = handle
        self.pid = handle.pid

    def __repr__(self) -> str:
        return f"<CommandHandle pid={self.pid}>"

    @property
    def info(self) -> CommandInfo | None:
        return self._async.info

    def refresh(self) -> CommandInfo:
        return self._sandbox._run(self._async.refresh())

    def logs(self, offset: int = 0) -> Iterator[CommandChunk]:
        """Every chunk of the output from the start, live until the process ends; calling it
        again re-attaches from the start."""
        return _iterate(self._sandbox._run, self._async.logs(offset))

    def wait(self, timeout: float | None = None, *, on_stdout: OnText | None = None,
             on_stderr: OnText | None = None) -> CommandResult:
        """Until the process ends: its result (``TimeoutError`` after ``timeout`` s)."""
        return self._sandbox._run(self._async.wait(timeout, on_stdout=on_stdout,
                                                   on_stderr=on_stderr))

    def kill(self) -> None:
        self._sandbox._run(self._async.kill())

    def send_stdin(self, data: str | bytes) -> None:
        self._sandbox._run(self._async.send_stdin(data))

    def close_stdin(self) -> None:
        self._sandbox._run(self._async.close_stdin())


class Commands:
    """``sandbox.commands`` of a (synchronous) ``Sandbox``; see ``AsyncCommands``."""

    def __init__(self, sandbox: Sandbox, commands: AsyncCommands) -> None:
        self._sandbox = sandbox
        self._async = commands

    def run(self, cmd: Command, *, cwd: str | None = None, env: dict[str, str] | None = None,
            stdin: str | bytes | None = None, timeout: float | None = None,
            on_stdout: OnText | None = None, on_stderr: OnText | None = None) -> CommandResult:
        """Run ``cmd`` to its end (see ``AsyncCommands.run``); the callbacks are called on the
        client's thread."""
        return self._sandbox._run(self._async.run(
            cmd, cwd=cwd, env=env, stdin=stdin, timeout=timeout, on_stdout=on_stdout,
            on_stderr=on_stderr))

    def start(self, cmd: Command, *, cwd: str | None = None, env: dict[str, str] | None = None,
              stdin: str | bytes | None = None, timeout: float | None = None,
              keep_stdin_open: bool = True) -> CommandHandle:
        """Start ``cmd`` in the background (see ``AsyncCommands.start``)."""
        return CommandHandle(self._sandbox, self._sandbox._run(self._async.start(
            cmd, cwd=cwd, env=env, stdin=stdin, timeout=timeout,
            keep_stdin_open=keep_stdin_open)))

    def list(self) -> list[CommandInfo]:
        return self._sandbox._run(self._async.list())

    def get(self, pid: int) -> CommandInfo:
        return self._sandbox._run(self._async.get(pid))

    def connect(self, pid: int) -> CommandHandle:
        return CommandHandle(self._sandbox, self._async.connect(pid))


__all__ = ["AsyncCommandHandle", "AsyncCommands", "CommandChunk", "CommandExitError",
           "CommandHandle", "CommandInfo", "CommandResult", "Commands"]
