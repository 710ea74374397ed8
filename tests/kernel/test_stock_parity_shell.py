"""Shell commands in a notebook under Sandboxed Python, compared with the stock ``python3``
kernel (issue 15, first slice): IPython's ``!cmd``, ``files = !ls``, the shell aliases,
``%%sh``/``%%bash``, ``os.system``, ``os.popen`` and ``subprocess`` over the sandbox's
built-in commands (runtime/guest/jupyter_sandbox_guest/os_commands.py, shell_commands.py,
shell.py; the commands themselves are commands/).

Both kernels run the same cells once (module fixture), each in its own notebook folder with
the same data files; each test compares what one or a few cells showed. Normalized: the
line ends of ``!cmd`` (the stock kernel runs it on a pseudo-terminal, so it prints ``\\r\\n``),
each kernel's own ``$HOME``, and ``ls``'s layout (on a terminal GNU ls prints columns, in
colour for the ``ls`` alias; the sandbox's ``ls`` prints one name a line), so names are
compared, not layout.
"""

from __future__ import annotations

import re

import pytest

from tests.kernel.stock_parity import CellResult, parity_folders, run_both

FILES = {
    "data/x.csv": "a,b\n1,2\n3,4\n5,6\n7,8\n",
    "a.txt": "x1\ny\nx2\n",
    "b.csv": "n,m\n1,2\n",
    "c.csv": "p\n",
    "notes.txt": "some notes\nline 2\n",
}

#: name → cell; run in this order, in one kernel each.
CELLS = {
    "home": "import os, subprocess\nprint(os.environ['HOME'])",
    "head": "!head -4 data/x.csv",
    "capture": "files = !ls *.csv\nfiles",
    "ls": "!ls",
    "cat": "!cat notes.txt",
    "braces": "var = 'hello'\n!echo {var}",
    "dollar": "!echo $var",
    "home_var": "!echo $HOME",
    "mixed": "!echo {var} $HOME",  # $HOME is no Python name: IPython leaves the line as is
    "double_bang": "!!cat a.txt",
    "sx": "%sx grep x a.txt",
    "system_magic": "%system echo from %system",
    "sh": "%%sh\ncat a.txt | grep x > out.txt; wc -l out.txt",
    "bash": "%%bash\necho one\nfalse\necho two",
    "script_bash": "%%script bash\necho via script",
    "os_system": "os.system('echo hi')",
    "os_system_status": "os.system('false')",
    "os_popen": "os.popen('ls').read()",
    "run_ls": "subprocess.run(['ls'], capture_output=True, text=True).stdout",
    "check_output": "subprocess.check_output(['cat', 'a.txt'])",
    "run_false": "subprocess.run('false', shell=True).returncode",
    "run_check": "subprocess.run(['false'], check=True)",
    "run_input": "subprocess.run(['grep', 'x'], input='x1\\ny\\nx3\\n', capture_output=True, "
                 "text=True).stdout",
    "getstatusoutput": "subprocess.getstatusoutput('cat a.txt')",
    "alias_ls": "ls",
    "alias_cat": "cat notes.txt",
    "exit_code": "!false\n_exit_code",
    "nosuch": "!nosuch",
    "nosuch_code": "_exit_code",
    "nosuch_system": "os.system('nosuch') >> 8",
    "nosuch_run": "r = subprocess.run('nosuch', shell=True, capture_output=True, text=True)\n"
                  "r.returncode",
    "argv_missing": "subprocess.run(['nosuch-tool', '--version'])",
    "python_child": "import sys\n"
                    "r = subprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True,"
                    " text=True)\n"
                    "r.returncode, 'arrive with processes' in r.stderr",
}

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ERRNO = re.compile(r"\[Errno \d+\]")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[CellResult, CellResult]]:
    root = tmp_path_factory.mktemp("shell")
    folders = parity_folders(root, FILES)
    pairs = run_both(list(CELLS.values()), *folders)
    return dict(zip(CELLS, pairs, strict=True))


def text(result: CellResult, home: str) -> str:
    return result.stdout.replace("\r\n", "\n").replace(home, "$HOME")


def homes(results) -> tuple[str, str]:
    stock, sandbox = results["home"]
    return stock.stdout.strip(), sandbox.stdout.strip()


def names(listing: str) -> list[str]:
    return sorted(ANSI.sub("", listing).split())


def assert_same_stdout(results, *cells: str) -> None:
    stock_home, sandbox_home = homes(results)
    for cell in cells:
        stock, sandbox = results[cell]
        assert stock.errors == sandbox.errors == [], cell
        assert text(stock, stock_home) == text(sandbox, sandbox_home), cell


def assert_same_result(results, *cells: str) -> None:
    for cell in cells:
        stock, sandbox = results[cell]
        assert stock.errors == sandbox.errors == [], cell
        assert stock.result is not None and stock.result == sandbox.result, cell


def test_bang_commands_print_what_the_stock_kernel_prints(results):
    assert_same_stdout(results, "head", "cat", "double_bang")
    assert results["head"][1].stdout == "a,b\n1,2\n3,4\n5,6\n"


def test_bang_interpolates_python_values_as_ipython_does(results):
    assert_same_stdout(results, "braces", "dollar", "home_var", "mixed")
    assert [results[c][1].stdout for c in ("braces", "dollar", "mixed")] == [
        "hello\n", "hello\n", "{var} " + homes(results)[1] + "\n"]


def test_captured_output_is_an_slist(results):
    assert_same_result(results, "capture", "double_bang", "sx", "system_magic")
    assert results["sx"][1].result == "['x1', 'x2']"
    assert results["capture"][1].result == "['b.csv', 'c.csv']"


def test_ls_lists_the_same_names(results):
    for cell in ("ls", "alias_ls"):
        stock, sandbox = results[cell]
        assert stock.errors == sandbox.errors == []
        assert names(stock.stdout) == names(sandbox.stdout), cell
    assert "data/" in names(results["alias_ls"][1].stdout)  # the alias's -F, as on Linux


def test_cat_alias_line(results):
    assert_same_stdout(results, "alias_cat")


def test_sh_cell_with_a_pipe_and_a_redirect(results):
    assert_same_stdout(results, "sh")
    assert results["sh"][1].stdout == "2 out.txt\n"


def test_bash_cell_runs_every_line_and_raises_at_a_failing_exit(results):
    stock, sandbox = results["bash"]
    assert stock.stdout == sandbox.stdout == "one\ntwo\n"  # no set -e; the last line's status
    assert stock.errors == sandbox.errors == []
    assert_same_stdout(results, "script_bash")


def test_os_system_and_popen(results):
    # The stock kernel forwards a child's fd 1 from a watcher thread, so its "hi" may arrive
    # with a later cell: only the sandbox's stdout is checked.
    assert results["os_system"][1].stdout == "hi\n"
    assert_same_result(results, "os_system", "os_system_status", "os_popen")
    assert results["os_system_status"][1].result == "256"  # exit status 1 << 8, as POSIX


def test_subprocess_functions(results):
    assert_same_result(results, "run_ls", "check_output", "run_false", "run_input",
                       "getstatusoutput")
    assert results["check_output"][1].result == "b'x1\\ny\\nx2\\n'"


def test_check_true_raises_called_process_error(results):
    stock, sandbox = results["run_check"]
    assert stock.errors == sandbox.errors == [
        "CalledProcessError: Command '['false']' returned non-zero exit status 1."]


def test_exit_code_is_set(results):
    assert_same_result(results, "exit_code")
    assert results["exit_code"][1].result == "1"


def test_unknown_command_exits_127_naming_the_sandbox(results):
    stock, sandbox = results["nosuch"]
    assert "nosuch" in stock.stdout + stock.stderr  # /bin/bash: nosuch: command not found
    message = sandbox.stdout + sandbox.stderr
    assert "nosuch" in message and "sandbox" in message
    assert_same_result(results, "nosuch_code", "nosuch_system", "nosuch_run")
    assert results["nosuch_code"][1].result == "127"


def test_a_missing_program_in_an_argv_raises_file_not_found_as_cpython(results):
    stock, sandbox = results["argv_missing"]  # how libraries probe for tools (fc-list, git)
    errors = [ERRNO.sub("[Errno]", error) for error in stock.errors + sandbox.errors]
    assert errors == 2 * ["FileNotFoundError: [Errno] No such file or directory: 'nosuch-tool'"]
    assert sandbox.errors[0].startswith("FileNotFoundError: [Errno 44]")  # WASI's ENOENT


def test_python_as_a_child_runs_as_on_the_stock_kernel(results):
    # a sandbox process (another guest instance), issue 15
    assert results["python_child"][1].result == results["python_child"][0].result == "(0, False)"
