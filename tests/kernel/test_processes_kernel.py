"""Sandbox processes through a real Sandboxed Python kernel (jupyter_client): the notebook
idioms of issue 15, ``!pip install`` of a pure wheel from a folder, and interrupting a child
that never ends."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from tests.wheels import build_test_wheels

TIMEOUT = 120


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    folder = tmp_path_factory.mktemp("notebook")
    build_test_wheels(folder / "wheels")
    (folder / "data").mkdir()
    (folder / "data" / "x.csv").write_text("a,b\n" + "".join(f"{i},{i * i}\n" for i in range(9)))
    (folder / "script.py").write_text("import sys\nprint('args', sys.argv[1:])\n")
    km, kc = start_new_kernel(kernel_name="sandboxed-python", cwd=str(folder),
                              env={**os.environ})
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(started) -> BlockingKernelClient:
    return started[1]


def run(kc: BlockingKernelClient, code: str) -> tuple[dict, str]:
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, output_hook=outputs.append, timeout=TIMEOUT)
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    return reply["content"], text


def test_notebook_idioms(kernel):
    assert run(kernel, "!head -4 data/x.csv")[1] == "a,b\n0,0\n1,1\n2,4\n"
    assert run(kernel, "!python script.py arg")[1] == "args ['arg']\n"
    reply, text = run(kernel, "import subprocess, sys\nr = subprocess.run([sys.executable, '-c', "
                              "'print(1)'], capture_output=True)\nprint(r.stdout, r.returncode)")
    assert reply["status"] == "ok" and text == "b'1\\n' 0\n"
    assert run(kernel, "print(subprocess.check_output(['ls', 'data']))")[1] == "b'x.csv\\n'\n"
    assert run(kernel, "%%sh\npython -c 'print(3)' | cat > out.txt\ncat out.txt")[1] == "3\n"
    assert run(kernel, "files = !ls data/*.csv\nprint(files)")[1] == "['data/x.csv']\n"
    assert run(kernel, '!node -e "console.log(1+1)"')[1] == "2\n"


def test_pip_install_of_a_pure_wheel_from_a_folder_as_a_program(kernel):
    reply, text = run(kernel, "!pip install --no-index -f wheels tinytop")
    assert reply["status"] == "ok" and "tinytop" in text, text
    reply, text = run(kernel, "import tinytop\nprint(tinytop.run())")
    assert reply["status"] == "ok", (reply, text)
    assert "tinytop" in run(kernel, "!pip list")[1]


def test_interrupt_stops_a_foreground_child_and_the_kernel_goes_on(started, kernel):
    km, _ = started
    msg_id = kernel.execute("subprocess.run([sys.executable, '-c', "
                            "'print(\"child up\", flush=True)\\nwhile True: pass'])",
                            stop_on_error=False)  # the next cell is not aborted
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:  # the child's first line: it runs
        message = kernel.get_iopub_msg(timeout=TIMEOUT)
        if (message["parent_header"].get("msg_id") == msg_id
                and message["msg_type"] == "stream" and "child up" in message["content"]["text"]):
            break
    km.interrupt_kernel()
    while True:
        reply = kernel.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    reply, text = run(kernel, "import jupyter_sandbox_guest.processes as p\n"
                              "import time\nfor _ in range(1000):\n"
                              "    if not [x for x in p.listing() if x['state'] == 'running']:\n"
                              "        break\n    time.sleep(0.01)\nprint('none running')")
    assert text == "none running\n", reply


def test_background_process_while_later_cells_run_then_killed(kernel):
    run(kernel, "open('serve.py', 'w').write("
                "'import time\\nwhile True:\\n    time.sleep(0.05)\\n')")
    assert run(kernel, "bg = subprocess.Popen([sys.executable, 'serve.py'])\n"
                       "print(bg.poll())")[1] == "None\n"
    assert run(kernel, "print(sum(range(10)))")[1] == "45\n"
    assert "serve.py" in run(kernel, "%sandbox")[1]
    assert run(kernel, "bg.kill(); print(bg.wait())")[1] == "-9\n"
