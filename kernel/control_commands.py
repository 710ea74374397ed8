"""Command routes of the kernel's control endpoint, for the sandbox service's commands API:
processes inside the sandbox (``Sandbox.processes``, ``runtime/processes``), started, watched,
fed and killed from outside. Bodies and lines are the TypedDicts of ``control_protocol``.

* ``POST /commands`` ``CommandRequest`` → foreground: NDJSON (``start``, ``stdout``/``stderr``
  lines as the process writes, ``exit``); ``background``: 201 ``ProcessInfoBody`` at once.
* ``GET /commands`` → ``ProcessListBody``; ``GET /commands/<pid>`` → ``ProcessInfoBody``.
* ``GET /commands/<pid>/logs`` (``?offset=N``) → NDJSON of the log from the start (the
  runtime keeps it), live until the process ends, then ``exit``. A second reader, or the same
  one after its first stream closed, starts again from the start.
* ``POST /commands/<pid>/stdin`` (``?close``) → 204; ``DELETE /commands/<pid>`` → kill, 204.

The process table's calls may block (``read_output`` waits for output), so each stream reads
on a thread of its own and hands lines to the endpoint's loop; the endpoint never needs the
sandbox's guest thread, so commands run while a cell does. A stream whose client left stops
reading (and a foreground process is then killed, as a terminal's Ctrl-C would); blank
keep-alive lines every ``COMMAND_KEEPALIVE`` seconds of silence make a gone client show.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import threading
from collections.abc import Callable
from typing import Any, Literal

import tornado.iostream
import tornado.web

from jupyter_sandbox.runtime.errors import (
    ProcessLimitError,
    ProcessMemoryError,
    ProgramNotFoundError,
    SandboxError,
    SandboxFileNotFoundError,
    SandboxPathError,
)
from jupyter_sandbox.runtime.processes import OutputChunk, ProcessHandle, ProcessState

from .control_base import ControlHandler
from .control_protocol import (
    COMMAND_KEEPALIVE,
    MAX_STDIN_BYTES,
    MEMORY_LIMIT,
    NDJSON,
    PROGRAM_NOT_FOUND,
    STDIN_CLOSED,
    TOO_MANY_PROCESSES,
    CommandExitLine,
    CommandOutputLine,
    CommandStartLine,
    ProcessInfoBody,
    ProcessListBody,
)

log = logging.getLogger(__name__)

#: Seconds one ``read_output`` call waits, so a reader whose client left stops soon.
POLL = 0.5
_FIELDS = {"cmd", "cwd", "env", "stdin", "stdin_base64", "keep_stdin_open", "timeout",
           "background"}


class BadCommand(ValueError):
    """A ``POST /commands`` body that is not a ``CommandRequest``; the message says why."""


def parse_request(raw: bytes) -> dict[str, Any]:
    """The validated ``CommandRequest`` as keyword arguments of ``ProcessTable.start`` plus
    ``cmd`` and ``background``; ``BadCommand`` otherwise."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise BadCommand(f"the body must be JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadCommand("the body must be a JSON object: {\"cmd\": [...] or \"...\"}")
    unknown = set(body) - _FIELDS
    if unknown:
        raise BadCommand(f"unknown fields: {', '.join(sorted(unknown))} (known: "
                         f"{', '.join(sorted(_FIELDS))})")
    cmd = body.get("cmd")
    if isinstance(cmd, list):
        if not cmd or not all(isinstance(word, str) for word in cmd):
            raise BadCommand("\"cmd\" as a list is the argv: one or more strings")
        if not cmd[0]:
            raise BadCommand("\"cmd\"'s first word, the program, is empty")
    elif isinstance(cmd, str):
        if not cmd.strip():
            raise BadCommand("\"cmd\" as a string is a shell command line; it is empty")
    else:
        raise BadCommand("the body needs \"cmd\": an argv list of strings, or a shell "
                         "command line (a string)")
    words = [cmd] if isinstance(cmd, str) else cmd
    if any("\0" in word for word in words):
        raise BadCommand("\"cmd\" contains a NUL character")
    options: dict[str, Any] = {"cmd": cmd}
    cwd = body.get("cwd")
    if cwd is not None:
        if not isinstance(cwd, str) or not cwd or "\0" in cwd:
            raise BadCommand("\"cwd\" must be a non-empty path (a string)")
        options["cwd"] = cwd
    env = body.get("env")
    if env is not None:
        if not isinstance(env, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise BadCommand("\"env\" must be an object of strings: {\"NAME\": \"value\"}")
        for name, value in env.items():
            if not name or "=" in name or "\0" in name or "\0" in value:
                raise BadCommand(f"\"env\" has an invalid variable {name!r} (a name is "
                                 "non-empty, without '=' or NUL; a value without NUL)")
        options["env"] = env
    if "stdin" in body and "stdin_base64" in body:
        raise BadCommand("give \"stdin\" (text) or \"stdin_base64\" (bytes), not both")
    stdin = body.get("stdin")
    if stdin is not None:
        if not isinstance(stdin, str):
            raise BadCommand("\"stdin\" must be a string (text); bytes go in \"stdin_base64\"")
        options["stdin"] = stdin.encode("utf-8", "surrogatepass")
    encoded = body.get("stdin_base64")
    if encoded is not None:
        if not isinstance(encoded, str):
            raise BadCommand("\"stdin_base64\" must be a base64 string")
        try:
            options["stdin"] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadCommand(f"\"stdin_base64\" is not valid base64: {exc}") from exc
    if len(options.get("stdin", b"")) > MAX_STDIN_BYTES:
        raise BadCommand(f"\"stdin\" is larger than {MAX_STDIN_BYTES} bytes; send more "
                         "through POST /commands/<pid>/stdin")
    timeout = body.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
                or not math.isfinite(timeout) or timeout <= 0:
            raise BadCommand("\"timeout\" must be a positive number of seconds")
        options["timeout"] = float(timeout)
    for flag in ("background", "keep_stdin_open"):
        if flag in body and not isinstance(body[flag], bool):
            raise BadCommand(f"\"{flag}\" must be true or false")
    options["background"] = bool(body.get("background", False))
    options["keep_stdin_open"] = bool(body.get("keep_stdin_open", options["background"]))
    return options


def output_line(chunk: OutputChunk) -> CommandOutputLine:
    """A chunk as a line: its text, and its exact bytes in base64 when the text alone would
    not give them back (see ``CommandOutputLine``)."""
    stream: Literal["stdout", "stderr"] = "stderr" if chunk.stream == "stderr" else "stdout"
    try:
        return {"type": stream, "data": chunk.data.decode("utf-8"), "offset": chunk.offset}
    except UnicodeDecodeError:
        return {"type": stream, "data": chunk.data.decode("utf-8", "replace"),
                "offset": chunk.offset, "base64": base64.b64encode(chunk.data).decode("ascii")}


def exit_line(handle: ProcessHandle) -> CommandExitLine:
    info = handle.info()
    return {"type": "exit", "pid": handle.pid, "exit_code": info.exit_code,
            "state": str(info.state)}


def info_body(info: Any) -> ProcessInfoBody:
    body: ProcessInfoBody = info.to_json()
    return body


Line = CommandStartLine | CommandOutputLine | CommandExitLine


def read_log(handle: ProcessHandle, offset: int, put: Callable[[Line | None], None],
             stop: threading.Event) -> None:
    """On a thread of its own: every chunk of ``handle``'s log from ``offset`` to ``put``, as
    it comes, then the exit line and None — or just None once ``stop`` is set."""
    try:
        while not stop.is_set():
            chunks = handle.read_output(offset, timeout=POLL)
            if not chunks:
                if handle.info().state is ProcessState.RUNNING:
                    continue
                chunks = handle.read_output(offset, timeout=0)  # written just before the end
                if not chunks:
                    # The exit status follows the end of the output: wait for it (briefly).
                    handle.wait(timeout=POLL)
                    put(exit_line(handle))
                    return
            for chunk in chunks:
                put(output_line(chunk))
                offset = chunk.offset + 1
    except Exception:  # the table failed: end the stream (the client sees no exit line)
        log.exception("reading the log of process %s failed", handle.pid)
    finally:
        put(None)


class _StreamingHandler(ControlHandler):
    """Streams a process's log as NDJSON; notices a client that left."""

    _gone: threading.Event

    def initialize(self) -> None:
        self._gone = threading.Event()

    def on_connection_close(self) -> None:
        self._gone.set()

    async def stream_log(self, handle: ProcessHandle, offset: int,
                         first: CommandStartLine | None = None) -> bool:
        """Answer the log from ``offset`` as NDJSON (after ``first``); False when the client
        left before the end."""
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[Line | None] = asyncio.Queue()

        def put(line: Line | None) -> None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

        self.set_header("Content-Type", NDJSON)
        self.set_header("Cache-Control", "no-store")
        # The headers (and the start line) go out at once: the client knows the stream began.
        if not await self._send("" if first is None else json.dumps(first) + "\n"):
            return False
        threading.Thread(target=read_log, args=(handle, offset, put, self._gone),
                         name=f"sandbox-command-log-{handle.pid}", daemon=True).start()
        while True:
            try:
                line = await asyncio.wait_for(lines.get(), COMMAND_KEEPALIVE)
            except TimeoutError:
                if not await self._send("\n"):
                    return False
                continue
            if line is None:
                break
            if not await self._send(json.dumps(line) + "\n"):
                return False
        if self._gone.is_set():
            return False
        self.finish()
        return True

    async def _send(self, text: str) -> bool:
        if self._gone.is_set():
            return False
        try:
            self.write(text)
            await self.flush()
        except tornado.iostream.StreamClosedError:
            self._gone.set()
            return False
        return True

    def process(self, pid: str) -> ProcessHandle | None:
        """The process ``pid``, or None after answering 404."""
        try:
            return self.sandbox.processes.get(int(pid))
        except (KeyError, ValueError):
            self.fail(404, f"no process with pid {pid} in this sandbox", "not_found",
                      hint="GET /commands lists the sandbox's processes (ended ones are "
                           "kept a while, then forgotten)")
            return None


class CommandsHandler(_StreamingHandler):
    async def get(self) -> None:
        infos = await asyncio.to_thread(self.sandbox.processes.list)
        body: ProcessListBody = {"processes": [info_body(info) for info in infos]}
        self.send_json(200, body)

    async def post(self) -> None:
        try:
            options = parse_request(self.request.body)
        except BadCommand as exc:
            self.fail(400, str(exc))
            return
        cmd = options.pop("cmd")
        table = self.sandbox.processes
        try:
            if isinstance(cmd, str):
                handle = await asyncio.to_thread(lambda: table.shell(cmd, origin="api",
                                                                     **options))
            else:
                handle = await asyncio.to_thread(lambda: table.start(cmd, origin="api",
                                                                     **options))
        except ProgramNotFoundError as exc:
            if options["background"]:
                self.fail(400, str(exc), PROGRAM_NOT_FOUND,
                          hint="run one of the programs the message lists")
            else:
                await self._not_found(str(exc))
            return
        except ProcessLimitError as exc:
            self.fail(429, str(exc), TOO_MANY_PROCESSES,
                      hint="wait for a process to end, or kill one "
                           "(DELETE /commands/<pid>; GET /commands lists them)")
            return
        except ProcessMemoryError as exc:
            self.fail(409, str(exc), MEMORY_LIMIT,
                      hint="kill a process (DELETE /commands/<pid>) or free memory in the "
                           "notebook, then try again")
            return
        except SandboxFileNotFoundError as exc:
            self.fail(400, str(exc), "bad_cwd", hint="\"cwd\" must be an existing folder")
            return
        except SandboxPathError as exc:
            self.fail(400, str(exc), "bad_path")
            return
        except (FileNotFoundError, NotADirectoryError) as exc:
            self.fail(400, f"cannot start in cwd {options.get('cwd')!r}: {exc}", "bad_cwd",
                      hint="\"cwd\" must be an existing folder")
            return
        except SandboxError as exc:
            log.warning("starting a command failed: %s", exc)
            self.fail(502, f"the sandbox could not start the command: {exc}", "sandbox_error")
            return
        except ValueError as exc:  # the table refused an argument
            self.fail(400, str(exc))
            return
        if options["background"]:
            self.send_json(201, info_body(await asyncio.to_thread(handle.info)))
            return
        finished = await self.stream_log(handle, 0, {"type": "start", "pid": handle.pid})
        if not finished:  # the client left: stop what it no longer waits for
            await asyncio.to_thread(handle.kill)

    async def _not_found(self, message: str) -> None:
        """A foreground run of a program the sandbox cannot run: as a shell, exit 127."""
        self.set_header("Content-Type", NDJSON)
        self.set_header("Cache-Control", "no-store")
        error: CommandOutputLine = {"type": "stderr", "data": message.rstrip("\n") + "\n",
                                    "offset": 0}
        end: CommandExitLine = {"type": "exit", "pid": 0, "exit_code": 127, "state": "exited"}
        self.finish(json.dumps(error) + "\n" + json.dumps(end) + "\n")


class CommandHandler(_StreamingHandler):
    async def get(self, pid: str) -> None:
        handle = self.process(pid)
        if handle is not None:
            self.send_json(200, info_body(await asyncio.to_thread(handle.info)))

    async def delete(self, pid: str) -> None:
        handle = self.process(pid)
        if handle is None:
            return
        await asyncio.to_thread(handle.kill)
        self.set_status(204)
        self.finish()


class CommandLogsHandler(_StreamingHandler):
    async def get(self, pid: str) -> None:
        offset_text = self.get_query_argument("offset", "0")
        if not offset_text.isdigit():
            self.fail(400, "?offset= must be a chunk index, 0 or more")
            return
        handle = self.process(pid)
        if handle is not None:
            await self.stream_log(handle, int(offset_text))


class CommandStdinHandler(ControlHandler):
    async def post(self, pid: str) -> None:
        try:
            handle = self.sandbox.processes.get(int(pid))
        except (KeyError, ValueError):
            self.fail(404, f"no process with pid {pid} in this sandbox", "not_found",
                      hint="GET /commands lists the sandbox's processes")
            return
        data = self.request.body
        if len(data) > MAX_STDIN_BYTES:
            self.fail(413, f"at most {MAX_STDIN_BYTES} bytes of stdin per request",
                      "too_large", hint="send it in several requests")
            return
        try:
            if data:
                await asyncio.to_thread(handle.write_stdin, data)
            if "close" in self.request.arguments:
                await asyncio.to_thread(handle.close_stdin)
        except BlockingIOError as exc:  # it has not read what it was given yet
            self.fail(429, str(exc), "stdin_full", hint="wait until the process reads its "
                                                        "input, then send the rest")
            return
        except (BrokenPipeError, ValueError) as exc:
            self.fail(409, f"process {pid}'s stdin is closed (or the process ended): {exc}",
                      STDIN_CLOSED, hint="start the process with \"keep_stdin_open\": true "
                                         "(the default in the background) to write to it")
            return
        self.set_status(204)
        self.finish()


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/commands", CommandsHandler),
    (r"/commands/([0-9]+)", CommandHandler),
    (r"/commands/([0-9]+)/logs", CommandLogsHandler),
    (r"/commands/([0-9]+)/stdin", CommandStdinHandler),
]
