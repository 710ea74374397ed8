"""The sandbox's own magics: %sandbox and %sandbox files."""

from __future__ import annotations

from jupyter_sandbox.runtime.config import Limits, SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text


def test_sandbox_magics_show_limits_usage_mounts_and_files(tmp_path):
    limits = Limits(memory_bytes=512 << 20, workspace_bytes=64 << 20)
    with Sandbox(SandboxConfig(limits=limits, host_folder=tmp_path)) as sandbox:
        (tmp_path / "from_host.csv").write_text("a,b\n1,2\n")
        sandbox.files.write_bytes("made_inside.txt", b"12345")
        messages: list[dict] = []
        sandbox.execute("%sandbox", messages.append)
        status = stream_text(messages)
        assert "of 512.0 MiB" in status and "of 64.0 MiB" in status
        assert "/workspace" in status and str(tmp_path) in status and "overlay" in status
        messages = []
        sandbox.execute("%sandbox files", messages.append)
        listing = stream_text(messages)
        assert "from_host.csv  (8 bytes)" in listing and "made_inside.txt  (5 bytes)" in listing


def _run(sandbox: Sandbox, code: str) -> tuple[object, list[dict]]:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    return reply, messages


def test_module_the_host_adds_beside_the_notebook_imports_in_the_next_cell(tmp_path):
    """A file uploaded into the notebook folder while the kernel runs lands below the layered
    /workspace mount without changing the folder's time as the guest sees it, so Python's
    cached folder listing would still miss it: the guest refreshes listings before each cell."""
    with Sandbox(SandboxConfig(host_folder=tmp_path)) as sandbox:
        _, messages = _run(sandbox, "try:\n    import uploaded\nexcept ImportError as e:\n"
                                    "    print('missing:', e.name)")
        assert stream_text(messages) == "missing: uploaded\n"
        (tmp_path / "uploaded.py").write_text("WHERE = 'from the host'\n")
        reply, messages = _run(sandbox, "import uploaded; print(uploaded.WHERE)")
        assert reply.status == "ok", messages
        assert stream_text(messages) == "from the host\n"


def test_working_directory_goes_on_sys_path_after_the_standard_library(tmp_path):
    """As ipykernel's init_path: '' after the standard library (the guest's zip), so a file
    beside the notebook never shadows the stdlib, nor the guest's own shell."""
    (tmp_path / "json.py").write_text("raise RuntimeError('the notebook folder shadowed json')\n")
    with Sandbox(SandboxConfig(host_folder=tmp_path)) as sandbox:
        reply, messages = _run(sandbox, "import sys, json\n"
                                        "print(sys.path.index('') - sys.path.index("
                                        "'/usr/local/lib/python315.zip'), json.dumps(1))")
        assert reply.status == "ok", messages
        assert stream_text(messages) == "1 1\n"


def test_boot_runs_nothing_from_the_notebook_folder(tmp_path):
    """The boot of a sandbox becomes the base image of every later one: a notebook folder's
    module named like a default extension must not be imported then, nor later by %store."""
    (tmp_path / "storemagic.py").write_text(
        "open('/workspace/ran.txt', 'w').write('ran')\n"
        "def load_ipython_extension(ip):\n    raise RuntimeError('the folder was imported')\n")
    with Sandbox(SandboxConfig(host_folder=tmp_path), use_base_image=False) as sandbox:
        reply, messages = _run(sandbox, "x = 7\n%store x\nimport sys\n"
                                        "print('storemagic' in sys.modules)")
        assert reply.status == "ok", messages
        assert stream_text(messages) == "Stored 'x' (int)\nFalse\n"
        assert not sandbox.files.exists("ran.txt")


def test_cd_dotdot_leaves_a_clean_working_directory(tmp_path):
    """wasi-libc keeps the working directory as the joined string (/workspace/sub/..); the
    guest's os.chdir settles on the resolved folder, as getcwd on Linux reports it."""
    (tmp_path / "sub").mkdir()
    with Sandbox(SandboxConfig(host_folder=tmp_path)) as sandbox:
        reply, messages = _run(sandbox, "import os\n%cd sub\n%cd ..\nprint(os.getcwd())\n"
                                        "os.chdir('sub/./../sub//'); print(os.getcwd())\n"
                                        "try:\n    os.chdir('nowhere')\nexcept OSError as e:\n"
                                        "    print(e.filename, os.getcwd())")
        assert reply.status == "ok", messages
        assert stream_text(messages) == ("/workspace/sub\n/workspace\n/workspace\n"
                                         "/workspace/sub\nnowhere /workspace/sub\n")


def test_run_of_a_file_that_is_no_notebook_says_why(tmp_path):
    """The guest reads notebooks itself (no nbformat inside): a broken or ancient one fails
    with an error that names the file and what to do, and runs none of it."""
    (tmp_path / "broken.ipynb").write_text("{not json")
    (tmp_path / "ancient.ipynb").write_text('{"nbformat": 2, "worksheets": []}')
    with Sandbox(SandboxConfig(host_folder=tmp_path)) as sandbox:
        for name, why in (("broken", "it is not JSON"),
                          ("ancient", "notebook format 2 is not 3 or 4")):
            reply, _ = _run(sandbox, f"%run {name}.ipynb")
            assert reply.status == "error"
            assert reply.ename == "NotebookFormatError"
            assert f"cannot run /workspace/{name}.ipynb: {why}" in reply.evalue
            assert "save it again" in reply.evalue
