"""What the sandbox cannot do yet says so in one clear message
(runtime/guest/jupyter_sandbox_guest/unavailable.py and after_import.py)."""

from __future__ import annotations

import pytest

from tests.conftest import stream_text

NO_SHELL = "the sandbox has no such program"
NO_PROCESSES = "needs worker processes or threads, which the sandbox cannot start yet"


@pytest.mark.parametrize("magic", ["script", "perl", "ruby"])
def test_script_cell_magics(run, magic):
    reply, messages = run(f"%%{magic}\necho hi")
    assert (reply.status, reply.ename) == ("error", "UsageError")
    stderr = stream_text(messages, "stderr")
    assert stderr.startswith(f"UsageError: %%{magic} runs its cell in another program")
    assert NO_SHELL in stderr and stderr.count("\n") == 1
    assert result_after(run) == "2"  # the interpreter lives on (%%script used to deadlock it)


def result_after(run) -> str:
    _, messages = run("1 + 1")
    return messages[-1]["content"]["data"]["text/plain"]


@pytest.mark.parametrize("code, what", [
    ("import multiprocessing\nmultiprocessing.Pool(2)", "multiprocessing.Pool()"),
    ("from multiprocessing.pool import Pool\nPool(2)", "multiprocessing.Pool()"),
    ("from multiprocessing.pool import ThreadPool\nThreadPool(2)",
     "multiprocessing.pool.ThreadPool()"),
    ("import multiprocessing\nmultiprocessing.Process(target=print).start()",
     "multiprocessing.Process.start()"),
    ("import multiprocessing\nmultiprocessing.Queue()", "multiprocessing.Queue()"),
    ("import multiprocessing\nmultiprocessing.Pipe()", "multiprocessing.Pipe()"),
    ("import multiprocessing\nmultiprocessing.Manager()", "multiprocessing.Manager()"),
    ("import multiprocessing\nmultiprocessing.get_context('spawn').Pool(2)",
     "multiprocessing.Pool()"),
    ("from concurrent.futures import ProcessPoolExecutor\nProcessPoolExecutor(2)",
     "concurrent.futures.ProcessPoolExecutor"),
])
def test_processes(run, code, what):
    reply, _ = run(code)
    assert (reply.status, reply.ename) == ("error", "ProcessesUnavailableError")
    assert reply.evalue.startswith(f"{what} {NO_PROCESSES}")
    _, messages = run("try:\n    " + code.replace("\n", "\n    ") +
                      "\nexcept OSError as e:\n    print(type(e).__mro__[1].__name__)")
    assert stream_text(messages) == "OSError\n"


def test_joblib_still_runs_serially(run):
    _, messages = run("from joblib import Parallel, delayed\n"
                      "Parallel(n_jobs=2)(delayed(len)(s) for s in ['a', 'bb'])")
    assert messages[-1]["content"]["data"]["text/plain"] == "[1, 2]"


@pytest.mark.parametrize("code", [
    "from sklearn.datasets import load_sample_image\nload_sample_image('china.jpg')",
    "from sklearn.datasets import load_sample_images\nload_sample_images()",
    "import sklearn.datasets._base as base\nbase.load_sample_images()",
])
def test_missing_sample_images(run, code):
    reply, _ = run(code)
    assert (reply.status, reply.ename) == ("error", "MissingGuestDataError")
    assert "sample images (china.jpg, flower.jpg) are not part of the sandbox's" in reply.evalue
    _, messages = run("try:\n    " + code.replace("\n", "\n    ") +
                      "\nexcept FileNotFoundError:\n    print('caught')")
    assert stream_text(messages) == "caught\n"


def test_other_sklearn_datasets_load(run):
    _, messages = run("from sklearn.datasets import load_iris\nload_iris().data.shape")
    assert messages[-1]["content"]["data"]["text/plain"] == "(150, 4)"


def test_after_import_runs_once_after_the_module_executes(sandbox, run):
    code = ("import pathlib, sys\n"
            "pathlib.Path('/tmp/watched_mod.py').write_text('VALUE = 1\\n')\n"
            "sys.path.insert(0, '/tmp')\n"
            "from jupyter_sandbox_guest.after_import import when_imported\n"
            "seen = []\n"
            "when_imported('watched_mod', lambda m: seen.append(m.VALUE))\n"
            "import watched_mod, importlib\n"
            "importlib.reload(watched_mod)\n"
            "when_imported('watched_mod', lambda m: seen.append('now'))\n"
            "seen, watched_mod.__loader__.get_source('watched_mod')")
    reply, messages = run(code, sandbox)
    assert reply.status == "ok", reply.evalue
    assert messages[-1]["content"]["data"]["text/plain"] == "([1, 'now'], 'VALUE = 1\\n')"


def test_script_magics_stay_replaced_after_ipython_loads_its_lazy_magics(run):
    run("%lsmagic")  # imports every lazily declared magic class, ScriptMagics among them
    reply, messages = run("%%perl\nprint 1")
    assert (reply.status, reply.ename) == ("error", "UsageError")
    assert NO_SHELL in stream_text(messages, "stderr")
    # %%bash and %%sh run with the sandbox's shell (shell_commands.py), also after %lsmagic
    for magic in ("bash", "sh"):
        reply, messages = run(f"%%{magic}\necho hi")
        assert reply.status == "ok", reply.evalue
        assert stream_text(messages) == "hi\n"
