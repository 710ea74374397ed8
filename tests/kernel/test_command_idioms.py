"""Issue 15's "Must pass" notebook idioms through a real Sandboxed Python kernel, compared with
the stock ``python3`` kernel where a notebook user would expect the same output.

* Parity (nbclient, ``stock_parity.run_both``; each kernel in its own notebook folder with the
  same data files beside the notebook): ``!head -4 data/x.csv``, ``files = !ls *.csv`` (an
  ``SList`` equal to the stock kernel's), ``!python script.py arg`` (the script prints its
  ``sys.argv`` and reads a data file), ``%%sh`` with a pipe and a redirect,
  ``subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True)``,
  ``subprocess.check_output(["ls"])``, ``!node -e "console.log(1+1)"`` and ``{python_var}`` /
  ``$var`` interpolation in ``!echo``.
* ``!pip install`` of a pure wheel from a folder (jupyter_client; not compared with the stock
  kernel, whose ``!pip`` would install into the host's environment): the package imports in the
  next cell, the host's environment is untouched, and a package on the administrator's deny
  list is refused by ``!pip`` exactly as by ``%pip``.
* A background long runner started with ``Popen`` (a script that writes a growing counter to a
  file): later cells run while it runs and see the file grow, the kernel's status route and
  ``%sandbox`` list it, then ``p.kill(); p.wait()`` ends it and it is gone from both.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from jupyter_sandbox.kernel.control_protocol import socket_path_for
from tests.conftest import kernel_cell
from tests.kernel.stock_parity import CellResult, parity_folders, run_both
from tests.wheels import build_test_wheels

TIMEOUT = 120
ANSI = re.compile(r"\x1b\[[0-9;]*m")

SCRIPT = ("import sys\n"
          "print('argv', sys.argv)\n"
          "with open('data/x.csv') as f:\n"
          "    print('first line', f.readline().strip())\n")

FILES = {
    "data/x.csv": "a,b\n1,2\n3,4\n5,6\n7,8\n",
    "data.csv": "x1,1\ny,2\nx2,3\nz,4\n",
    "one.csv": "n\n1\n",
    "two.csv": "m\n2\n",
    "script.py": SCRIPT,
}

#: name → cell, run in this order in one kernel of each kind.
CELLS = {
    "head": "!head -4 data/x.csv",
    "capture": "files = !ls *.csv\nfiles",
    "capture_type": "type(files).__name__, files.n, files.s",
    "script": "!python script.py arg",
    "sh": "%%sh\ncat data.csv | grep x > out.txt; wc -l out.txt",
    "sh_file": "print(open('out.txt').read())",
    "run": "import subprocess, sys\n"
           "r = subprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True)\n"
           "r.stdout, r.returncode",
    "check_output": "subprocess.check_output(['ls'])",
    "node": '!node -e "console.log(1+1)"',
    "interpolate": "var = 'hi there'\n!echo {var} / $var / {len(files)} files",
}


@pytest.fixture(scope="module")
def parity(tmp_path_factory) -> dict[str, tuple[CellResult, CellResult]]:
    root = tmp_path_factory.mktemp("idioms")
    folders = parity_folders(root, FILES)
    with pytest.MonkeyPatch.context() as patch:
        # the stock kernel's `!python` is the host's: make it this environment's interpreter
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        pairs = run_both(list(CELLS.values()), *folders)
    return dict(zip(CELLS, pairs, strict=True))


def same_stdout(parity, cell: str) -> str:
    stock, sandbox = parity[cell]
    assert stock.errors == sandbox.errors == [], cell
    # the stock kernel runs `!cmd` on a pseudo-terminal (\r\n line ends)
    assert stock.stdout.replace("\r\n", "\n") == sandbox.stdout, cell
    return sandbox.stdout


def same_result(parity, cell: str) -> str:
    stock, sandbox = parity[cell]
    assert stock.errors == sandbox.errors == [], cell
    assert stock.result is not None and stock.result == sandbox.result, cell
    return stock.result


def test_head_of_a_data_file(parity):
    assert same_stdout(parity, "head") == "a,b\n1,2\n3,4\n5,6\n"


def test_captured_ls_is_the_stock_kernels_slist(parity):
    assert same_result(parity, "capture") == "['data.csv', 'one.csv', 'two.csv']"
    assert same_result(parity, "capture_type") == (
        "('SList', 'data.csv\\none.csv\\ntwo.csv', 'data.csv one.csv two.csv')")


def test_python_script_with_an_argument_reads_a_file(parity):
    assert same_stdout(parity, "script") == ("argv ['script.py', 'arg']\n"
                                             "first line a,b\n")


def test_sh_cell_with_a_pipe_and_a_redirect(parity):
    assert same_stdout(parity, "sh") == "2 out.txt\n"
    assert same_stdout(parity, "sh_file") == "x1,1\nx2,3\n\n"


def test_subprocess_run_of_sys_executable_captures_stdout(parity):
    assert same_result(parity, "run") == "(b'1\\n', 0)"


def test_check_output_of_ls(parity):
    assert same_result(parity, "check_output") == (
        "b'data\\ndata.csv\\none.csv\\nout.txt\\nscript.py\\ntwo.csv\\n'")


def test_node_one_liner(parity):
    stock, sandbox = parity["node"]
    assert stock.errors == sandbox.errors == []
    # on its pseudo-terminal the host's node prints numbers in colour; in a pipe it does not
    assert ANSI.sub("", stock.stdout).replace("\r\n", "\n") == sandbox.stdout == "2\n"


def test_python_values_interpolated_into_echo(parity):
    assert same_stdout(parity, "interpolate") == "hi there / hi there / 3 files\n"


# -- one jupyter_client kernel: !pip and a background process ----------------------------------

@pytest.fixture(scope="module")
def started(tmp_path_factory) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    folder = tmp_path_factory.mktemp("notebook")
    config = tmp_path_factory.mktemp("config")  # never the notebook's folder: not trusted
    build_test_wheels(folder / "wheels")
    (config / "jupyter_sandbox_kernel_config.py").write_text(
        "c.SandboxKernel.pip_deny = ['padded']\n")
    (folder / "counter.py").write_text(
        "import sys, time\n"
        "n = 0\n"
        "while True:\n"
        "    n += 1\n"
        "    with open(sys.argv[1], 'w') as f:\n"
        "        f.write(str(n))\n"
        "    time.sleep(0.02)\n")
    km, kc = start_new_kernel(kernel_name="sandboxed-python", cwd=str(folder),
                              env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)})
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(kc: BlockingKernelClient, code: str) -> tuple[dict, str]:
    """(execute_reply content, every stream's text)."""
    return kernel_cell(kc, code, TIMEOUT)


def ok(kc: BlockingKernelClient, code: str) -> str:
    reply, text = run(kc, code)
    assert reply["status"] == "ok", (code, reply, text)
    return text


def test_bang_pip_installs_a_pure_wheel_from_a_folder(started):
    _, kc = started
    text = ok(kc, "!pip install --no-index -f ./wheels tinybase==1.0")
    assert "Successfully installed tinybase-1.0" in text
    assert ok(kc, "import tinybase\nprint(tinybase.greet('idioms'))") == "hello idioms\n"
    assert ok(kc, "print(_exit_code)") == "0\n"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("tinybase")  # not in the host's environment


def test_bang_pip_refuses_a_denied_package_as_percent_pip_does(started):
    _, kc = started
    text = ok(kc, "!pip install --no-index -f ./wheels padded\nprint('exit', _exit_code)")
    refusal = "padded is blocked by the administrator's deny list"
    assert refusal in text
    assert text.rstrip().endswith("exit 1")
    reply, _ = run(kc, "%pip install --no-index -f ./wheels padded")
    assert reply["status"] == "error" and reply["evalue"] == refusal
    reply, text = run(kc, "import padded")
    assert reply["status"] == "error" and reply["ename"] == "ModuleNotFoundError"


def _status_processes(km: KernelManager) -> list[dict]:
    transport = httpx.HTTPTransport(uds=str(socket_path_for(km.connection_file)))
    with httpx.Client(transport=transport, base_url="http://sandbox", timeout=60) as client:
        answer = client.get("/status")
        answer.raise_for_status()
        return answer.json()["processes"]


WAIT_FOR_COUNT = """\
import time
def count(path='count.txt'):
    try:
        with open(path) as f:
            return int(f.read() or 0)
    except (FileNotFoundError, ValueError):
        return 0
def wait_above(n, deadline=60):
    end = time.monotonic() + deadline
    while (c := count()) <= n:
        if time.monotonic() > end:
            raise TimeoutError(f'the counter stayed at {c}')
        time.sleep(0.02)
    return c
"""


def test_background_long_runner_keeps_running_while_cells_run_then_is_killed(started):
    km, kc = started
    ok(kc, WAIT_FOR_COUNT)
    text = ok(kc, "import subprocess, sys\n"
                  "p = subprocess.Popen([sys.executable, 'counter.py', 'count.txt'])\n"
                  "print(p.poll(), p.pid)")
    poll, pid = text.split()
    assert poll == "None"
    first = int(ok(kc, "print(wait_above(2))"))
    # a later cell, while the process runs: the file keeps growing
    second = int(ok(kc, f"print(wait_above({first}))"))
    assert second > first
    assert ok(kc, "print(p.poll())") == "None\n"
    running = [p for p in _status_processes(km) if p["pid"] == int(pid)]
    assert len(running) == 1 and running[0]["state"] == "running"
    assert running[0]["argv"][1:] == ["counter.py", "count.txt"]
    assert running[0]["background"] is True
    assert "counter.py" in ok(kc, "%sandbox")

    assert ok(kc, "p.kill()\nprint(p.wait(), p.poll(), p.returncode)") == "-9 -9 -9\n"
    assert all(p["pid"] != int(pid) for p in _status_processes(km))
    assert "counter.py" not in ok(kc, "%sandbox")
    # the kernel goes on, and the file no longer grows once the process is gone
    final = int(ok(kc, "print(count())"))
    assert ok(kc, "import jupyter_sandbox_guest.processes as gp\n"
                  f"print([x['state'] for x in gp.listing() if x['pid'] == {pid}])") in (
        "['killed']\n", "[]\n")
    assert int(ok(kc, "print(count())")) == final

