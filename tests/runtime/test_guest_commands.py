"""The sandbox's shell and built-in commands (runtime/guest/jupyter_sandbox_guest/commands/),
run inside a real sandbox and compared, where cheap, with bash and GNU tools on the host run
on the same files."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import stream_text

FILES = {
    "data.csv": b"name,age,city\nalice,30,paris\nbob,25,berlin\ncarol,35,paris\n"
                b"dave,40,rome\nerin,22,paris\n",
    "words.txt": b"banana\napple\nCherry\napple\n10\n9\nbanana\n\n  spaced line\nlast",
    "my file;$x.txt": b"one\ntwo three\n",
    "notes.md": b"# Title\nsome Text here\nmore text\n",
    "sub/inner.txt": b"deep text\n",
    "sub/more/leaf.csv": b"a,b\n",
    ".hidden": b"secret\n",
    "bin.dat": b"\x00\x01text\xff\xfe\n",
}

HOST_BASH = shutil.which("bash")


def guest_results(run, lines: list[str], files: dict[str, bytes] = FILES, stdin: bytes = b"",
                  env: dict[str, str] | None = None, sandbox=None) -> list[dict]:
    """Run each line with ``run_captured`` in a fresh folder holding ``files``; one
    (status, stdout, stderr) dict per line."""
    payload = json.dumps({
        "files": {name: base64.b64encode(data).decode() for name, data in files.items()},
        "lines": lines, "stdin": base64.b64encode(stdin).decode(), "env": env,
    })
    code = textwrap.dedent(f"""\
        import base64, json, os, shutil, uuid
        from jupyter_sandbox_guest.commands.runner import run_captured
        _p = json.loads({payload!r})
        _results = []
        for _line in _p['lines']:
            _folder = '/workspace/cmd-' + uuid.uuid4().hex[:8]
            for _name, _data in _p['files'].items():
                _path = os.path.join(_folder, _name)
                os.makedirs(os.path.dirname(_path), exist_ok=True)
                with open(_path, 'wb') as _f:
                    _f.write(base64.b64decode(_data))
            os.makedirs(_folder, exist_ok=True)
            _env = _p['env']
            if _env is not None:
                _env = dict(_env, PWD=_folder)
            _s, _o, _e = run_captured(_line, cwd=_folder, env=_env,
                                      stdin=base64.b64decode(_p['stdin']))
            _results.append({{'status': _s, 'out': base64.b64encode(_o).decode(),
                              'err': base64.b64encode(_e).decode()}})
            shutil.rmtree(_folder)
        print(json.dumps(_results))
        """)
    reply, messages = run(code, sandbox=sandbox)
    assert reply.status == "ok", "\n".join(reply.traceback) + stream_text(messages, "stderr")
    results = json.loads(stream_text(messages).strip().splitlines()[-1])
    for result in results:
        result["out"] = base64.b64decode(result["out"])
        result["err"] = base64.b64decode(result["err"])
    return results


def host_results(tmp_path: Path, lines: list[str], files: dict[str, bytes] = FILES,
                 stdin: bytes = b"") -> list[dict]:
    """The same lines through bash and GNU tools in the C locale, on the same files."""
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/home/user"}
    results = []
    for line in lines:
        done = subprocess.run([HOST_BASH or "bash", "-c", line], cwd=tmp_path, input=stdin,
                              capture_output=True, env=env, timeout=60, check=False)
        results.append({"status": done.returncode, "out": done.stdout, "err": done.stderr})
    return results


def one(run, line: str, **kwargs) -> dict:
    return guest_results(run, [line], **kwargs)[0]


# Lines whose stdout and status must equal bash + GNU coreutils/grep on the host.
SAME_AS_HOST = [
    # words, quoting, variables, globs
    "echo hello   world",
    "echo 'single  $HOME' \"double $HOME\" $HOME ~ ~/x",
    "echo \"a\\\"b\" 'it'\\''s' a\\ b",
    "X='a  b'; echo $X; echo \"$X\"",
    "X=*.csv; echo \"$X\"; Y=$HOME/a\\ b; echo \"$Y\"",
    "echo $UNSET_VARIABLE_X end; echo \"[$UNSET_VARIABLE_X]\"",
    "echo ${HOME}/x $HOME.y",
    "echo *.csv; echo '*.csv'; echo \"*\".csv; echo nomatch*.zip",
    "echo *; echo .*; echo s*/*.txt",
    "echo */",
    "echo 'my file;$x.txt' \"a;b\" 'x|y' 'p > q'",
    "cat 'my file;$x.txt'",
    "cat my*",
    "A=1; echo $A; A=2 env | grep '^A='",
    "echo # a comment",
    "echo -n no newline; echo",
    "echo -e 'tab\\there\\nnext'; echo -E 'raw\\t'",
    "echo -x -- -n",
    "echo -e 'a\\0101b\\x41\\c never'",
    "printf '%s-%d\\n' a 1 b 2",
    "printf '%5.2f|%-4s|%x|%%\\n' 3.14159 ab 255",
    "printf 'no newline'",
    "printf '[%5.5s][%3.3d][%*d]\\n' abcdefgh 7 4 2",
    "sh -c 'echo $0 in; false' || bash -c \"echo 'nested' | wc -c\"",
    # exit statuses and lists
    "true; echo $?; false; echo $?",
    "false && echo no; false || echo yes; true && echo both && echo run",
    "true || echo skipped; echo after",
    "false && echo a || echo b",
    "grep -q paris data.csv && echo found",
    "cat missing.txt 2>/dev/null; echo $?",
    # pipes and redirections
    "cat data.csv | grep paris | wc -l",
    "cat data.csv | cut -d, -f1,3 | sort | head -3",
    "echo one > out.txt; echo two >> out.txt; cat out.txt; wc -l < out.txt",
    "cat < data.csv | tail -2",
    "cat missing.txt 2>&1 | wc -l",
    "cat missing.txt > out.txt 2>&1; cat out.txt",
    "cat data.csv missing.txt > out.txt 2> err.txt; echo $?; cat out.txt err.txt",
    # head / tail
    "head -4 data.csv",
    "head -n 2 data.csv words.txt",
    "head -2 < data.csv",
    "head -c 10 data.csv",
    "head -n -2 data.csv",
    "tail -3 data.csv",
    "tail -n +3 data.csv",
    "tail -c 5 words.txt",
    "tail -n 1 words.txt",
    "head -q -n 1 data.csv notes.md",
    # wc
    "wc data.csv",
    "wc -l data.csv",
    "wc -l data.csv words.txt",
    "wc -w words.txt notes.md",
    "wc -c < data.csv",
    "cat data.csv | wc",
    "cat data.csv | wc -l",
    # grep
    "grep paris data.csv",
    "grep -i TEXT notes.md",
    "grep -v paris data.csv",
    "grep -n text notes.md",
    "grep -c paris data.csv",
    "grep -l text notes.md data.csv sub/inner.txt",
    "grep -r text .",
    "grep -r text",
    "grep -rn text sub",
    "grep -E 'ali|bob' data.csv",
    "grep 'ali\\|bob' data.csv",
    "grep -w apple words.txt",
    "grep -x 10 words.txt",
    "grep -o 'a[a-z]' data.csv",
    "grep -e alice -e rome data.csv",
    "grep -F 'a.' data.csv; echo $?",
    "grep zzz data.csv; echo $?",
    "grep paris data.csv notes.md",
    "grep -h text notes.md sub/inner.txt",
    "grep -c text bin.dat notes.md",
    "grep text bin.dat",
    "grep '^[a-c]' data.csv",
    # cat
    "cat -n words.txt",
    "cat -n data.csv notes.md",
    "cat notes.md - < data.csv",
    # sort / uniq / cut
    "sort words.txt",
    "sort -r words.txt",
    "sort -n words.txt",
    "sort -u words.txt",
    "sort -t, -k2 data.csv",
    "sort words.txt | uniq -c",
    "sort words.txt | uniq -d",
    "sort words.txt | uniq -u",
    "cut -d, -f2 data.csv",
    "cut -d, -f2- data.csv",
    "cut -c1-3 data.csv",
    # ls without -l (its dates and sizes depend on the file system)
    "ls",
    "ls -a",
    "ls -A",
    "ls -1 sub",
    "ls -R",
    "ls sub data.csv",
    "ls -d sub",
    "ls *.csv *.txt",
    "ls -r",
    "ls missing; echo $?",
    # files
    "mkdir -p a/b/c && touch a/b/c/f && ls -R a",
    "mkdir sub; echo $?",
    "cp data.csv copy.csv && cat copy.csv | wc -l",
    "cp -r sub sub2 && ls -R sub2",
    "cp sub x; echo $?",
    "mv data.csv moved.csv && ls",
    "mkdir d && mv data.csv notes.md d && ls d",
    "rm data.csv && ls",
    "rm -r sub && ls",
    "rm sub; echo $?",
    "rm -f nothing-here; echo $?",
    "rm nothing-here; echo $?",
    "touch new.txt && wc -c new.txt",
    "pwd | wc -l",
    "cd sub && ls && cd more && ls",
    "cd nowhere; echo $?",
    "basename /a/b/c.txt .txt; dirname /a/b/c.txt; dirname file",
    "seq 3; seq 2 4; seq 10 -3 1",
]

COMPARE_STDERR = {
    "cat missing.txt 2>&1 | wc -l", "ls missing; echo $?", "mkdir sub; echo $?",
    "rm sub; echo $?", "rm nothing-here; echo $?", "cp sub x; echo $?", "grep -r text .",
    "grep -c text bin.dat notes.md", "grep text bin.dat",
    "cat data.csv missing.txt > out.txt 2> err.txt; echo $?; cat out.txt err.txt",
}


@pytest.mark.skipif(HOST_BASH is None, reason="needs bash on the host")
def test_lines_behave_as_bash_and_gnu_tools(run, tmp_path):
    env = {"HOME": "/home/user", "PATH": "/usr/bin:/bin"}
    ours = guest_results(run, SAME_AS_HOST, env=env)
    theirs = []
    for index, line in enumerate(SAME_AS_HOST):
        folder = tmp_path / str(index)
        folder.mkdir()
        theirs += host_results(folder, [line])
    mismatches = []
    for line, got, expected in zip(SAME_AS_HOST, ours, theirs, strict=True):
        if (got["status"], got["out"]) != (expected["status"], expected["out"]):
            mismatches.append(f"{line!r}: sandbox {got} != host {expected}")
        elif line in COMPARE_STDERR and got["err"] != expected["err"]:
            mismatches.append(f"{line!r}: stderr {got['err']!r} != {expected['err']!r}")
    assert not mismatches, "\n".join(mismatches)


def test_ls_long_format(run):
    result = one(run, "ls -l; ls -lh data.csv; ls -la sub")
    assert result["status"] == 0, result
    lines = result["out"].decode().splitlines()
    assert lines[0].startswith("total ")
    entry = re.compile(r"^([-dl][-rwxsStT]{9}) +\d+ +\S+ +\S+ +(\S+) (\w{3} [ \d]\d "
                       r"(\d\d:\d\d| \d{4})) (.+)$")
    parsed = {m[5]: m for m in map(entry.match, lines) if m}
    assert parsed["data.csv"][1].startswith("-rw") and parsed["data.csv"][2] == "85"
    assert parsed["sub"][1].startswith("d")
    assert parsed["my file;$x.txt"][2] == "14"
    assert {".", "..", "inner.txt", "more"} <= set(parsed)
    big = one(run, "ls -lh big.bin", files={"big.bin": b"x" * 150_000})
    assert re.search(r" 147K \w{3} ", big["out"].decode()), big


def test_binary_and_invalid_utf8_pass_through_pipes_intact(run):
    blob = bytes(range(256)) * 4 + b"\xff\xfe\n\x00tail\x80"
    results = guest_results(run, ["cat blob.bin | cat | cat", "cat < blob.bin > copy.bin; "
                                  "cat copy.bin", "cat | head -c 2000", "tee t.bin | wc -c"],
                            files={"blob.bin": blob}, stdin=blob)
    assert [r["out"] for r in results[:3]] == [blob, blob, blob]
    assert results[3]["out"].strip() == str(len(blob)).encode()


def test_metacharacters_in_names_and_variables_are_data(run):
    results = guest_results(run, [
        "touch 'a;b' 'c|d' 'e$f' 'g h' '*star' && ls",
        "X='*'; echo \"$X\"",
        "X='; echo injected'; echo $X",
        "X='$(touch pwned)'; echo $X; ls pwned",
        "echo 'a && b || c'",
    ], files={})
    assert results[0]["out"] == b"*star\na;b\nc|d\ne$f\ng h\n"
    assert results[1]["out"] == b"*\n"
    assert results[2]["out"] == b"; echo injected\n"
    assert results[3]["out"].startswith(b"$(touch pwned)\n") and results[3]["status"] == 2
    assert results[4]["out"] == b"a && b || c\n"


@pytest.mark.parametrize("line, what", [
    ("echo $(ls)", "command substitution $(...)"),
    ("echo `ls`", "command substitution with backticks"),
    ("echo $((1+2))", "arithmetic $((...))"),
    ("sleep 10 &", "running a command in the background with &"),
    ("cat <<EOF", "a here-document"),
    ("(cd sub; ls)", "a subshell ( ... )"),
    ("for f in *.csv; do echo $f; done", "the compound command `for`"),
    ("if true; then echo; fi", "the compound command `if`"),
    ("echo ${HOME:-x}", "the parameter expansion ${HOME:-x}"),
    ("diff <(ls) <(ls)", "process substitution"),
])
def test_unsupported_syntax_says_so(run, line, what):
    result = one(run, f"echo before; {line}")
    assert result["status"] == 2 and result["out"] == b""  # nothing of the line ran
    err = result["err"].decode()
    assert err.startswith(f"sh: {what}") and "is not supported by the sandbox's shell yet" in err


@pytest.mark.parametrize("line, message", [
    ("echo 'open", "a quote is not closed"),
    ("echo \"open", "a quote is not closed"),
    ("| ls", "syntax error near unexpected token `|'"),
    ("ls &&", "the line ends after `&&'"),
    ("ls |", "the line ends after `|'"),
    ("ls >", "syntax error near unexpected token `newline'"),
    ("ls && && ls", "syntax error near unexpected token `&&'"),
])
def test_syntax_errors(run, line, message):
    result = one(run, line)
    assert result["status"] == 2 and message in result["err"].decode(), result


def test_unknown_command_exits_127_with_what_the_sandbox_can_run(run):
    result = one(run, "nosuchtool --flag; echo $?")
    assert result["out"] == b"127\n"
    err = result["err"].decode()
    assert err.startswith("nosuchtool: command not found in the sandbox (it can run: ")
    assert "cat, cd, cp" in err and "wc, which; no host programs)" in err
    assert "node, " in err and "pip, " in err and "python, python3, " in err
    assert one(run, "which ls cat nosuch; echo $?")["out"] == (
        b"ls: built into the sandbox's shell\ncat: built into the sandbox's shell\n1\n")
    assert one(run, "/bin/ls data.csv")["out"] == b"data.csv\n"


def test_cd_export_and_env_are_subshell_by_default_and_persistent_on_request(run):
    out = guest_results(run, ["cd sub; pwd; export NEW_VAR=1; echo $NEW_VAR"])[0]["out"]
    assert out.decode().splitlines()[0].endswith("/sub")
    code = textwrap.dedent("""\
        import io, os
        from jupyter_sandbox_guest.commands.runner import run, run_captured, ShellState
        os.makedirs('/workspace/cd-test/inner', exist_ok=True)
        os.chdir('/workspace/cd-test')
        before = os.getcwd()
        run_captured('cd inner; export S1_VAR=x')
        print(os.getcwd() == before, 'S1_VAR' in os.environ)
        out = io.BytesIO()
        run('cd inner && export S1_VAR=y', stdout=out, stderr=out, persistent=True)
        print(os.getcwd(), os.environ.get('S1_VAR'))
        os.chdir('/workspace/cd-test')
        state = ShellState(dict(os.environ), '/workspace')
        run('cd cd-test', stdout=out, stderr=out, state=state)
        print(state.cwd, state.changed_directory)
        status, o, e = run_captured('pwd; echo $ONLY', cwd='inner', env={'ONLY': 'given'})
        print(o.decode().split())
        try:
            run_captured('pwd', cwd='/no/such/folder')
        except FileNotFoundError as error:
            print(type(error).__name__)
        os.chdir('/workspace')
        del os.environ['S1_VAR']
        import shutil; shutil.rmtree('/workspace/cd-test')
        """)
    reply, messages = run(code)
    assert reply.status == "ok", reply.traceback
    assert stream_text(messages).splitlines() == [
        "True False", "/workspace/cd-test/inner y", "/workspace/cd-test True",
        "['/workspace/cd-test/inner', 'given']", "FileNotFoundError",
    ]


def test_run_argv_does_no_shell_parsing(run):
    code = textwrap.dedent("""\
        import io
        from jupyter_sandbox_guest.commands.runner import run_argv
        out, err = io.BytesIO(), io.BytesIO()
        status = run_argv(['echo', '*', '$HOME', 'a;b', '|'], stdout=out, stderr=err)
        print(status, repr(out.getvalue()))
        status = run_argv(['grep', 'b'], stdin=io.BytesIO(b'a\\nb\\n'), stdout=out, stderr=err)
        print(status, repr(out.getvalue()))
        status = run_argv(['nope'], stdout=out, stderr=err)
        print(status, err.getvalue().decode().split(':')[0])
        """)
    reply, messages = run(code)
    assert reply.status == "ok", reply.traceback
    assert stream_text(messages).splitlines() == [
        "0 b'* $HOME a;b |\\n'", "0 b'* $HOME a;b |\\nb\\n'", "127 nope"]


def test_stdout_streams_as_each_command_finishes(run):
    """The last stage writes to the caller's stream directly and each command flushes it, so
    output of a long line reaches the cell before the line ends."""
    code = textwrap.dedent("""\
        import io
        from jupyter_sandbox_guest.commands.runner import run
        class Recorder(io.RawIOBase):
            def __init__(self):
                self.events = []
            def writable(self):
                return True
            def write(self, data):
                self.events.append(('write', bytes(data)))
                return len(data)
            def flush(self):
                self.events.append(('flush', b''))
        r = Recorder()
        run('echo a; echo b | cat', stdout=r, stderr=io.BytesIO())
        print(r.events[:4])
        """)
    reply, messages = run(code)
    assert reply.status == "ok", reply.traceback
    assert stream_text(messages).strip() == (
        "[('write', b'a\\n'), ('flush', b''), ('write', b'b\\n'), ('flush', b'')]")


def test_options_errors_like_gnu(run):
    results = guest_results(run, ["ls -z", "head -n x data.csv", "cat sub", "wc nosuch",
                                  "grep", "sleep abc", "mkdir"])
    assert results[0]["status"] == 2
    assert results[0]["err"] == (b"ls: invalid option -- 'z'\n"
                                 b"Try 'ls --help' for more information.\n")
    assert results[1]["err"].startswith(b"head: invalid number of lines: 'x'")
    assert (results[2]["status"], results[2]["err"]) == (1, b"cat: sub: Is a directory\n")
    assert results[3]["err"] == b"wc: nosuch: No such file or directory\n"
    assert results[4]["status"] == 2
    assert results[5]["err"].startswith(b"sleep: invalid time interval 'abc'")
    assert results[6]["err"].startswith(b"mkdir: missing operand")


def test_rm_refuses_root_and_dot(run):
    results = guest_results(run, ["rm -rf /; echo $?", "rm -r .; echo $?"])
    assert results[0]["out"] == b"1\n"
    assert b"dangerous to operate recursively on '/'" in results[0]["err"]
    assert b"refusing to remove '.' or '..'" in results[1]["err"]
    assert one(run, "ls data.csv")["out"] == b"data.csv\n"


def test_sleep_is_cut_by_the_sandbox_interrupt(sandbox):
    messages: list[dict] = []

    def interrupt_when_started() -> None:
        deadline = time.monotonic() + 120
        while "started" not in stream_text(list(messages)) and time.monotonic() < deadline:
            time.sleep(0.01)
        sandbox.interrupt()

    interrupter = threading.Thread(target=interrupt_when_started, daemon=True)
    interrupter.start()
    reply = sandbox.execute(
        "import sys\nfrom jupyter_sandbox_guest.commands.runner import run\n"
        "print('started', flush=True)\n"
        "run('sleep 600; echo never', stdout=sys.stdout.buffer, stderr=sys.stderr.buffer)",
        messages.append)
    interrupter.join()
    assert (reply.status, reply.ename) == ("error", "KeyboardInterrupt")
    assert "never" not in stream_text(messages)
    after: list[dict] = []
    assert sandbox.execute("print(1 + 1)", after.append).status == "ok"
    assert stream_text(after) == "2\n"


def test_env_lists_and_runs_with_changes(run):
    results = guest_results(run, ["env", "env -i ONLY=1", "env A=1 B=2 env | grep -c '^[AB]='",
                                  "A=5 env | grep '^A='; echo ${A}x"],
                            env={"HOME": "/h", "KEEP": "k"})
    assert b"KEEP=k\n" in results[0]["out"] and b"HOME=/h\n" in results[0]["out"]
    assert results[1]["out"] == b"ONLY=1\n"
    assert results[2]["out"] == b"2\n"
    assert results[3]["out"] == b"A=5\nx\n"


def test_guest_process_is_not_changed(run):
    """A line runs over the shell's own state: the guest's cwd and environment stay."""
    code = textwrap.dedent("""\
        import os
        from jupyter_sandbox_guest.commands.runner import run_captured
        cwd, env = os.getcwd(), dict(os.environ)
        run_captured('cd /; export Z=1; A=2; unset HOME')
        print(os.getcwd() == cwd, dict(os.environ) == env)
        """)
    reply, messages = run(code)
    assert reply.status == "ok" and stream_text(messages) == "True True\n"


def test_no_host_process_is_started(run, tmp_path):
    """Nothing reaches the host: a command that names a host path sees the sandbox's
    filesystem only."""
    marker = tmp_path / "marker"
    marker.write_text("host")
    result = one(run, f"cat {marker}; ls {tmp_path}; touch {tmp_path}/made; echo $?")
    assert b"No such file or directory" in result["err"]
    assert sorted(os.listdir(tmp_path)) == ["marker"]


def _guest_commands_on_host():
    """The commands package loaded into the host's Python from its files (it is pure Python
    and needs nothing of the guest), for comparisons that need the host's file system."""
    import importlib.util
    import sys

    name = "_guest_commands_on_host"
    if name in sys.modules:
        return sys.modules[name]
    folder = (Path(__file__).resolve().parents[2] / "runtime" / "guest" /
              "jupyter_sandbox_guest" / "commands")
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("line", [
    "ls -l", "ls -lh", "ls -la dir", "ls -l link dangling small", "ls -lR", "ls -lhS",
    "ls -ltr", "ls -F", "ls -1 dir small",
])
def test_ls_long_format_matches_gnu_ls_on_the_host(tmp_path, line):
    """Column alignment, ``total``, ``-h`` rounding, dates older than six months, symbolic
    links: the same code, run by the host's Python over a host folder, prints what GNU ls
    prints (the sandbox's WASI file system has no owners, permissions or block counts)."""
    import importlib

    (tmp_path / "big.txt").write_bytes(b"x" * 5000)
    (tmp_path / "huge.bin").write_bytes(bytes(2_000_000))
    (tmp_path / "small").write_text("hi\n")
    (tmp_path / "link").symlink_to("small")
    (tmp_path / "dangling").symlink_to("nowhere")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("f")
    old = tmp_path / "old"
    old.write_text("")
    os.utime(old, (1577934240, 1577934240))  # 2020-01-02
    _guest_commands_on_host()
    runner = importlib.import_module("_guest_commands_on_host.runner")
    env = {"LC_ALL": "C", "TZ": "UTC", "PATH": "/usr/bin:/bin"}
    status, out, err = runner.run_captured(line, cwd=str(tmp_path), env=env)
    expected = subprocess.run(["ls", *line.split()[1:]], cwd=tmp_path, env=env,
                              capture_output=True, check=False)
    assert (status, out, err) == (expected.returncode, expected.stdout, expected.stderr)
