"""``subprocess``, ``os.popen``, ``os.system``, ``!cmd`` and ``%%bash`` inside the sandbox, over
its built-in commands (runtime/guest/jupyter_sandbox_guest/os_commands.py, shell_commands.py,
shell.py): the details a notebook relies on beyond what tests/kernel/test_stock_parity_shell.py
compares with the stock kernel."""

from __future__ import annotations

import ast
import threading

import pytest

from tests.conftest import stream_text


def result(messages: list[dict]) -> str:
    (data,) = [m["content"]["data"] for m in messages if m["msg_type"] == "execute_result"]
    return data["text/plain"]


def ok(run, code: str) -> tuple[list[dict], str | None]:
    reply, messages = run(code)
    assert reply.status == "ok", (reply.ename, reply.evalue, stream_text(messages, "stderr"))
    results = [m for m in messages if m["msg_type"] == "execute_result"]
    return messages, result(messages) if results else None


@pytest.fixture
def folder(run, tmp_path_factory):
    """A fresh folder inside the sandbox, made the guest's working directory for the test."""
    name = tmp_path_factory.mktemp("x").name
    ok(run, f"import os, subprocess, sys\n_before = os.getcwd()\nos.makedirs('/tmp/{name}/sub')\n"
            f"os.chdir('/tmp/{name}')")
    yield f"/tmp/{name}"
    ok(run, "os.chdir(_before)")


def test_os_popen_write_mode_feeds_the_command_and_close_gives_the_status(run, folder):
    messages, value = ok(run, "p = os.popen('cat', 'w')\np.write('to cat\\n')\n"
                              "p.close(), os.popen('false').close(), os.popen('true').close()")
    assert stream_text(messages) == "to cat\n"
    assert value == "(None, 256, None)"


def test_popen_with_stdin_pipe_runs_when_its_input_is_complete(run, folder):
    _, value = ok(run, "p = subprocess.Popen(['grep', 'x'], stdin=subprocess.PIPE, "
                       "stdout=subprocess.PIPE)\n"
                       "before = p.poll()\nout = p.communicate(b'x1\\ny\\nx2\\n')\n"
                       "before, out, p.returncode, p.wait()")
    assert value == "(None, (b'x1\\nx2\\n', None), 0, 0)"


def test_output_to_a_file_devnull_and_stderr_into_stdout(run, folder):
    messages, value = ok(run, "with open('o.txt', 'w') as f:\n"
                              "    subprocess.run(['echo', 'hi'], stdout=f)\n"
                              "subprocess.run(['echo', 'gone'], stdout=subprocess.DEVNULL)\n"
                              "r = subprocess.run('ls nosuchfile; echo out', shell=True, "
                              "stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
                              "[open('o.txt').read(), r.stdout, r.stderr]")
    assert stream_text(messages) == ""
    assert ast.literal_eval(value) == [
        "hi\n", b"ls: cannot access 'nosuchfile': No such file or directory\nout\n", None]


def test_cwd_env_and_text_mode_newlines(run, folder):
    _, value = ok(run, "r = subprocess.run('pwd; echo $FOO; printf \"a\\\\r\\\\nb\"', "
                       "shell=True, cwd='sub', env={'FOO': 'bar'}, capture_output=True, "
                       "text=True)\nr.stdout, os.getcwd() == " + repr(folder))
    assert value == f"('{folder}/sub\\nbar\\na\\nb', True)"


def test_binary_output_passes_intact(run, folder):
    _, value = ok(run, "open('bin.dat', 'wb').write(bytes(range(256)))\n"
                       "subprocess.check_output(['cat', 'bin.dat']) == bytes(range(256))")
    assert value == "True"


def test_bang_output_keeps_its_place_among_prints_and_cd_stays_in_the_line(run, folder):
    messages, value = ok(run, "print('before')\n!echo mid\nprint('after')\n!cd sub\nos.getcwd()")
    assert stream_text(messages) == "before\nmid\nafter\n"
    assert value == repr(folder)


def test_capture_magic_captures_bang_output(run, folder):
    messages, value = ok(run, "from IPython.utils.capture import capture_output\n"
                              "with capture_output() as c:\n    get_ipython().system('echo hid')\n"
                              "c.stdout")
    assert stream_text(messages) == ""
    assert value == "'hid\\n'"


def test_bash_cell_options(run, folder):
    messages, value = ok(run, "%%bash --out o --err e --no-raise-error\necho x\nls nosuchfile")
    assert stream_text(messages) == stream_text(messages, "stderr") == ""
    _, value = ok(run, "[o, e]")
    assert ast.literal_eval(value) == [
        "x\n", "ls: cannot access 'nosuchfile': No such file or directory\n"]
    ok(run, "%%sh --no-raise-error\nfalse")
    reply, messages = run("%%bash\nfalse")
    assert (reply.status, reply.ename) == ("error", "CalledProcessError")
    # --bg: a background process of the sandbox (issue 15), --proc keeps its Popen
    messages, _ = ok(run, "%%bash --bg --proc job\nsleep 0.1; echo x > bg.txt")
    assert stream_text(messages) == ""
    _, value = ok(run, "job.wait(), open('bg.txt').read()")
    assert ast.literal_eval(value) == (0, "x\n")
    _, value = ok(run, "%%python3 --out py_out\nimport sys\nprint(sys.argv, 6 * 7)\n")
    _, value = ok(run, "py_out")
    assert ast.literal_eval(value) == "['-'] 42\n"
    reply, messages = run("%%script perl\nprint 1")
    assert (reply.status, reply.ename) == ("error", "UsageError")


def test_background_bang_is_refused_as_ipython_does(run):
    reply, _ = run("!ls &")
    assert (reply.status, reply.ename, reply.evalue) == (
        "error", "OSError", "Background processes not supported.")


def test_os_system_unknown_program(run, folder):
    messages, value = ok(run, "os.system('nosuch arg')")
    assert value == str(127 << 8)
    assert "nosuch" in stream_text(messages, "stderr")
    assert "sandbox" in stream_text(messages, "stderr")


@pytest.mark.parametrize("code", [
    "!echo started; sleep 120; echo never",
    "import subprocess\nprint('started')\nsubprocess.run(['sleep', '120'])",
    "%%bash\necho started\nsleep 120\necho never",
])
def test_interrupt_stops_a_running_command(shared_sandbox, code):
    started = threading.Event()
    messages: list[dict] = []

    def on_message(message: dict) -> None:
        messages.append(message)
        if message["msg_type"] == "stream" and "started" in message["content"]["text"]:
            started.set()

    def interrupt_once_started() -> None:
        if started.wait(timeout=120):
            shared_sandbox.interrupt()

    interrupter = threading.Thread(target=interrupt_once_started)
    interrupter.start()
    reply = shared_sandbox.execute(code, on_message)
    interrupter.join()
    assert (reply.status, reply.ename) == ("error", "KeyboardInterrupt")
    assert "never" not in stream_text(messages)
    after: list[dict] = []
    assert shared_sandbox.execute("1 + 1", after.append).status == "ok"
