"""The commands API (processes inside a sandbox) end to end: a real ``jupyter server`` with the
sandbox service, its REST routes under ``sandbox/api/v1/sandboxes/{id}/commands`` and the Python
client's ``sandbox.commands`` (issue 15, item 5)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jupyter_sandbox.client import (
    Sandbox,
    SandboxClient,
    SandboxLimitError,
    SandboxNotFoundError,
    SandboxServiceError,
)
from jupyter_sandbox.client_commands import CommandChunk, CommandExitError
from tests.server.conftest import Server

from .conftest import temporary_server

API = "sandbox/api/v1/"
#: Seconds any one wait of these tests may take on a loaded 2-core machine.
DEADLINE = 120.0

#: A background process that says it started, echoes each stdin line, then says "eof".
ECHO = ("import sys\n"
        "print('started', flush=True)\n"
        "for line in sys.stdin:\n"
        "    print('got', line.strip(), flush=True)\n"
        "print('eof', flush=True)\n")


@pytest.fixture(scope="module")
def client(service_server: Server) -> Iterator[SandboxClient]:
    with SandboxClient(service_server.url, service_server.token) as sandbox_client:
        yield sandbox_client


def processes_ready(sandbox: Sandbox) -> Sandbox:
    """``sandbox`` once it can start processes. A process starts from the machine's base image;
    the first sandbox after a change of the guest's code writes a new one a few seconds after
    it started, and until then the runtime refuses processes (502, naming the base image)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            sandbox.commands.run("true").check()
            return sandbox
        except SandboxServiceError as exc:
            if "base image" not in exc.message or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def sandbox(client: SandboxClient) -> Iterator[Sandbox]:
    with client.create_sandbox() as one:
        yield processes_ready(one)


@pytest.fixture
def http(service_server: Server, sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{service_server.url}{API}sandboxes/{sandbox.id}/",
                      headers={"Authorization": f"token {service_server.token}"},
                      timeout=DEADLINE) as one:
        yield one


def ndjson(response: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_foreground_run_streams_output_then_exit(sandbox: Sandbox, http: httpx.Client) -> None:
    # The process prints, then waits for a file the test writes only after it saw the print
    # arrive: output is streamed as produced, not held until the process ends.
    code = ("import os, sys, time\n"
            "print('ready', flush=True)\n"
            "print('to stderr', file=sys.stderr, flush=True)\n"
            "deadline = time.monotonic() + 120\n"
            "while not os.path.exists('go.flag') and time.monotonic() < deadline:\n"
            "    time.sleep(0.05)\n"
            "print('done' if os.path.exists('go.flag') else 'no flag')\n"
            "sys.exit(3)\n")
    seen: list[dict] = []
    with http.stream("POST", "commands", json={"cmd": ["python", "-c", code]}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        for line in response.iter_lines():
            if not line.strip():
                continue  # keep-alive
            seen.append(json.loads(line))
            if (seen[-1]["type"], seen[-1].get("data")) == ("stdout", "ready\n"):
                sandbox.write_file("go.flag", b"")
    assert seen[0]["type"] == "start" and isinstance(seen[0]["pid"], int)
    output = [(line["type"], line["data"]) for line in seen[1:-1]]
    assert ("stdout", "ready\n") in output and ("stderr", "to stderr\n") in output
    assert "".join(d for t, d in output if t == "stdout") == "ready\ndone\n"
    assert seen[-1] == {"type": "exit", "pid": seen[0]["pid"], "exit_code": 3,
                        "state": "exited"}
    sandbox.delete_file("go.flag")


def test_client_run_argv_shell_stdin_env_cwd(sandbox: Sandbox) -> None:
    result = sandbox.commands.run(["python", "-c", "print(6 * 7)"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "42\n", "")
    # A shell string: pipes and redirects run by the sandbox's shell.
    piped = sandbox.commands.run("echo one two three | wc -w")
    assert (piped.exit_code, piped.stdout.strip()) == (0, "3")
    sandbox.commands.run("mkdir -p sub && echo 'a;b $(x) *' > 'sub/odd name.txt'").check()
    assert sandbox.read_file("sub/odd name.txt") == b"a;b $(x) *\n"
    # stdin, env and cwd
    fed = sandbox.commands.run(["python", "-c", "import sys, os; print(sys.stdin.read().upper(),"
                                " os.environ['GREETING'], os.getcwd())"],
                               stdin="hello", env={"GREETING": "hi"}, cwd="/workspace/sub")
    assert fed.stdout == "HELLO hi /workspace/sub\n", fed
    chunks: list[str] = []
    streamed = sandbox.commands.run("cat", stdin="x" * 10, on_stdout=chunks.append)
    assert streamed.stdout == "".join(chunks) == "x" * 10
    failing = sandbox.commands.run("false")
    assert failing.exit_code == 1 and not failing.ok
    with pytest.raises(CommandExitError):
        failing.check()
    sandbox.delete_file("sub", recursive=True)


def test_binary_and_invalid_utf8_output_is_exact(sandbox: Sandbox, http: httpx.Client) -> None:
    code = "import sys; sys.stdout.buffer.write(bytes(range(256)) + 'é'.encode())"
    result = sandbox.commands.run(["python", "-c", code])
    assert result.stdout_bytes == bytes(range(256)) + "é".encode()
    assert result.stdout == (bytes(range(256)) + "é".encode()).decode("utf-8", "replace")
    # Bytes in (stdin_base64), the same bytes out.
    reverse = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read()[::-1])"
    echoed = sandbox.commands.run(["python", "-c", reverse], stdin=bytes(range(256)))
    assert echoed.stdout_bytes == bytes(range(256))[::-1]
    lines = ndjson(http.post("commands", json={"cmd": ["python", "-c", code]}))
    output = [line for line in lines if line["type"] == "stdout"]
    assert any("base64" in line for line in output)  # not UTF-8: the exact bytes beside
    assert all("\ufffd" not in line["data"] for line in output if "base64" not in line)


def test_unknown_program_exits_127(sandbox: Sandbox) -> None:
    result = sandbox.commands.run(["no-such-program", "x"])
    assert result.exit_code == 127 and "no-such-program" in result.stderr
    shell = sandbox.commands.run("no-such-program x")
    assert shell.exit_code == 127
    with pytest.raises(SandboxServiceError) as refused:
        sandbox.commands.start(["no-such-program"])
    assert (refused.value.status, refused.value.code) == (400, "program_not_found")


def test_background_logs_reattach_stdin_and_kill(sandbox: Sandbox) -> None:
    handle = sandbox.commands.start(["python", "-c", ECHO])
    assert handle.info is not None and handle.info.background and handle.info.state == "running"
    listed = {info.pid: info for info in sandbox.commands.list()}
    assert listed[handle.pid].state == "running" and listed[handle.pid].origin == "api"
    assert listed[handle.pid].argv == ["python", "-c", ECHO]

    # A first stream, closed by the client once it saw the first line.
    first = handle.logs()
    assert next(first) == CommandChunk("stdout", b"started\n", 0)
    first.close()
    assert sandbox.commands.get(handle.pid).state == "running"  # it goes on without a reader

    # Re-attach: everything again from the start, then live output as stdin arrives.
    handle.send_stdin("hello\n")
    again = handle.logs()
    texts = [next(again).text]
    while "got hello\n" not in "".join(texts):
        texts.append(next(again).text)
    assert "".join(texts).startswith("started\n")
    handle.send_stdin(b"bytes too\n")
    handle.close_stdin()
    rest = "".join(chunk.text for chunk in again)  # ends when the process ends
    assert rest.endswith("got bytes too\neof\n"), rest
    result = handle.wait(timeout=DEADLINE)
    assert (result.exit_code, result.state) == (0, "exited")
    assert result.stdout == "started\ngot hello\ngot bytes too\neof\n"
    # A third attach after the end still has the whole log; from an offset, the rest.
    assert "".join(c.text for c in handle.logs()) == result.stdout
    assert [c.offset for c in handle.logs(offset=1)][0] == 1
    with pytest.raises(SandboxServiceError) as closed:
        handle.send_stdin("late\n")
    assert (closed.value.status, closed.value.code) == (409, "stdin_closed")

    # kill: a long runner ends as killed, with -9, its log stream ends.
    sleeper = sandbox.commands.start("sleep 300")
    sleeper.kill()
    deadline = time.monotonic() + DEADLINE
    while sandbox.commands.get(sleeper.pid).state == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    info = sandbox.commands.get(sleeper.pid)
    assert (info.state, info.exit_code) == ("killed", -9)
    assert list(sleeper.logs()) == []
    assert sleeper.wait(timeout=DEADLINE).state == "killed"
    sleeper.kill()  # killing an ended process is fine


def test_foreground_timeout_kills(sandbox: Sandbox) -> None:
    result = sandbox.commands.run("sleep 300", timeout=1)
    assert result.state == "killed" and result.exit_code != 0


@pytest.fixture(scope="module")
def limited_server() -> Iterator[Server]:
    """A server whose sandboxes may run 2 processes at once (the kernel trait
    ``SandboxKernel.max_processes``, from the kernel's Jupyter config file)."""
    yield from temporary_server({"SandboxKernel": {"max_processes": LIMIT}})


LIMIT = 2


def test_process_limit_is_429(limited_server: Server) -> None:
    with SandboxClient(limited_server.url, limited_server.token) as client, \
            client.create_sandbox() as sandbox:
        processes_ready(sandbox)
        started = [sandbox.commands.start("sleep 300") for _ in range(LIMIT)]
        try:
            with pytest.raises(SandboxLimitError) as refused:
                sandbox.commands.start("sleep 300")
            assert (refused.value.status, refused.value.code) == (429, "too_many_processes")
            assert "limit" in refused.value.message and refused.value.hint
            # A foreground run is refused the same way, before any output.
            with pytest.raises(SandboxLimitError):
                sandbox.commands.run(["python", "-c", "print(1)"])
            assert sandbox.exec("1 + 1").result == "2"  # the kernel stays responsive
        finally:
            for handle in started:
                handle.kill()
        for handle in started:
            assert handle.wait(timeout=DEADLINE).state == "killed"
        after = sandbox.commands.run(["python", "-c", "print('room again')"])
        assert after.stdout == "room again\n"


def test_memory_limit_is_409(sandbox: Sandbox) -> None:
    # The shared server's sandboxes have 512 MiB: processes of ~66 MiB each fill it before
    # the default limit of 8 processes.
    started = []
    try:
        with pytest.raises(SandboxServiceError) as refused:
            for _ in range(16):
                started.append(sandbox.commands.start("sleep 300"))
        assert (refused.value.status, refused.value.code) == (409, "memory_limit")
        assert sandbox.exec("1 + 1").result == "2"
    finally:
        for handle in started:
            handle.kill()


def test_unknown_pid_and_malformed_requests(http: httpx.Client) -> None:
    for method, url in (("GET", "commands/999999"), ("DELETE", "commands/999999"),
                        ("GET", "commands/999999/logs"), ("POST", "commands/999999/stdin"),
                        ("GET", "commands/not-a-pid")):
        response = http.request(method, url)
        assert response.status_code == 404, (method, url, response.text)
        body = response.json()
        assert set(body) == {"message", "reason", "code", "hint"} and body["code"] == "not_found"
    for body in (b"{", b"[]", b"{}", b'{"cmd": 5}', b'{"cmd": []}', b'{"cmd": ""}',
                 b'{"cmd": ["python"], "shape": 1}', b'{"cmd": "ls", "timeout": -1}',
                 b'{"cmd": "ls", "env": {"A=B": "x"}}', b'{"cmd": "ls", "stdin_base64": "%%"}',
                 b'{"cmd": "ls", "background": "yes"}'):
        response = http.post("commands", content=body)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == {"message", "reason", "code", "hint"}
        assert "Traceback" not in response.text
    assert http.get("commands/1/logs?offset=x").status_code == 400


def test_auth_is_required(service_server: Server, sandbox: Sandbox) -> None:
    handle = sandbox.commands.start("sleep 300")
    base = f"{service_server.url}{API}sandboxes/{sandbox.id}/commands"
    try:
        with httpx.Client(timeout=DEADLINE) as anonymous:
            for method, url in (("GET", base), ("POST", base), ("GET", f"{base}/{handle.pid}"),
                                ("DELETE", f"{base}/{handle.pid}"),
                                ("GET", f"{base}/{handle.pid}/logs"),
                                ("POST", f"{base}/{handle.pid}/stdin")):
                response = anonymous.request(method, url, json={"cmd": "echo pwned > p"}
                                             if method == "POST" else None)
                assert response.status_code == 403, (method, url, response.text)
                assert response.json()["code"] == "forbidden"
        assert sandbox.commands.get(handle.pid).state == "running"  # nothing was killed
        assert "p" not in {f["name"] for f in sandbox.list_files()}
    finally:
        handle.kill()


def test_unknown_sandbox_is_404(client: SandboxClient, sandbox: Sandbox) -> None:
    other = client.get_sandbox(sandbox.id)
    other.info["id"] = "nope"
    with pytest.raises(SandboxNotFoundError):
        other.commands.run("true")
    with pytest.raises(SandboxNotFoundError):
        other.commands.list()


def test_javascript_exec(sandbox: Sandbox) -> None:
    result = sandbox.exec("console.log(1 + 1); console.error('e')", language="javascript")
    assert (result.status, result.stdout, result.stderr) == ("ok", "2\n", "e\n"), result
    failed = sandbox.exec("throw new Error('boom')", language="javascript")
    assert failed.status == "error" and failed.reply["ename"] == "JavaScriptError"
    assert "boom" in failed.stderr
    with pytest.raises(SandboxServiceError) as refused:
        sandbox.exec("1", language="cobol")
    assert refused.value.status == 400


def test_a_foreground_client_that_leaves_kills_its_process(sandbox: Sandbox,
                                                           http: httpx.Client) -> None:
    # A silent process: the client's leaving shows at the next keep-alive line (every few
    # seconds), through the server to the kernel, which then kills it.
    with http.stream("POST", "commands", json={"cmd": "sleep 300"}) as response:
        first = next(line for line in response.iter_lines() if line.strip())
    pid = json.loads(first)["pid"]
    deadline = time.monotonic() + DEADLINE
    while sandbox.commands.get(pid).state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox.commands.get(pid).state == "killed"


def test_commands_never_run_on_the_host(sandbox: Sandbox, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    host_secret = tmp_path / "secret.txt"
    host_secret.write_text("host only")
    # A host program is not there; host paths are not the sandbox's; writes stay inside.
    assert sandbox.commands.run(["id"]).exit_code == 127
    assert sandbox.commands.run(f"cat {host_secret}").exit_code != 0
    written = sandbox.commands.run(f"mkdir -p {tmp_path} && echo pwned > {marker}")
    assert written.exit_code == 0, written
    assert not marker.exists()
    assert sandbox.commands.run(["cat", str(marker)]).stdout == "pwned\n"  # the sandbox's own
    refused = sandbox.commands.run(["python", "-c", "import subprocess; subprocess.run(['id'])"])
    assert refused.exit_code != 0 and "FileNotFoundError" in refused.stderr
