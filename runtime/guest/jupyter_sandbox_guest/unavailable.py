"""Clear messages for what the sandbox cannot do yet, instead of the confusing failures deep
inside the library (``can't start new thread``, ``module 'os' has no attribute 'pipe'``, a
crashed interpreter, ``No module named 'sklearn.datasets.images'``).

* ``%%bash``, ``%%sh``, ``%%script`` and IPython's other script cell magics start a shell
  process: a one-line ``UsageError`` (``%%script`` used to deadlock the interpreter).
* ``multiprocessing`` pools, processes, queues, managers and ``ProcessPoolExecutor`` need
  worker processes: :class:`ProcessesUnavailableError` (an ``OSError``, what a failed
  ``fork`` raises natively), saying what to do instead. They are not run in-process: workers
  that silently share the notebook's globals, run one after another and never time out would
  compute something different from what the code says, and the commands-and-processes work
  will give them real sandbox processes. (joblib, and so scikit-learn's ``n_jobs``, already
  falls back to running serially on its own.)
* scikit-learn's ``load_sample_image``/``load_sample_images``: the guest's scikit-learn build
  lacks the bundled JPEGs, so :class:`MissingGuestDataError` (a ``FileNotFoundError``) says so
  and how to load an image of one's own; a build that has them works unchanged.
* tqdm's monitor thread: switched off (``monitor_interval = 0``) instead of a warning that it
  cannot start.

Every patch is applied when its module is first imported (``after_import``), so nothing here
slows the sandbox's start.
"""

from __future__ import annotations

import functools
import importlib.util
import types
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from .after_import import when_imported


class ProcessesUnavailableError(OSError):
    """Something asked for an operating-system process, which the sandbox cannot start yet."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} needs worker processes or threads, which the sandbox cannot start yet "
            "(Python runs in WebAssembly, without either); run the work in this process "
            "instead, e.g. list(map(func, items)) for pool.map(func, items).")


class MissingGuestDataError(FileNotFoundError):
    """A data file that a library ships natively is not part of the sandbox's build."""


def script_magic_error(name: str) -> UsageError:
    """The one line ``%%name`` gives: the program it names is not in the sandbox (it has
    python, node and its own shell, see shell_commands)."""
    return UsageError(
        f"%%{name} runs its cell in another program, and the sandbox has no such program "
        "(no host programs run from WebAssembly); %%python3 runs a python process, %%sh and "
        "%%bash the sandbox's built-in shell, otherwise write the cell in Python.")


def _script_magic(name: str) -> Callable[[str, str], None]:
    def refuse(line: str = "", cell: str = "") -> None:
        raise script_magic_error(name)

    refuse.__name__ = f"{name}_unavailable"
    refuse.__doc__ = f"%%{name}: not available in the sandbox (no processes yet)."
    return refuse


def _is_script_magic(function: Any) -> bool:
    """True for a cell magic ``ScriptMagics`` provides, however IPython holds it: a lazy
    placeholder naming the class, a bound method, or a function generated in its module."""
    spec = getattr(function, "spec", None)
    if isinstance(spec, str):
        return spec.endswith(":ScriptMagics")
    owner = getattr(function, "__self__", None)
    if owner is not None:
        return type(owner).__name__ == "ScriptMagics"
    return getattr(function, "__module__", None) == "IPython.core.magics.script"


def install_script_magics(shell: Any) -> None:
    """Replace IPython's script cell magics (``%%script`` and those named after programs:
    ``%%bash``, ``%%sh``, ``%%perl``, ``%%python3``…)."""
    cell_magics = shell.magics_manager.magics["cell"]
    names = {"script", "sh", "bash"}
    names.update(name for name, function in cell_magics.items() if _is_script_magic(function))
    for name in sorted(names):
        shell.register_magic_function(_script_magic(name), "cell", name)


def _refusing(what: str) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise ProcessesUnavailableError(what)

    return refuse


#: multiprocessing's context methods that create processes or the pipes between them (its
#: ``Pool`` builds a ``multiprocessing.pool.Pool``, refused there).
_CONTEXT_METHODS = ("Manager", "Queue", "JoinableQueue", "SimpleQueue", "Pipe")


def _patch_multiprocessing_context(module: types.ModuleType) -> None:
    for method in _CONTEXT_METHODS:
        setattr(module.BaseContext, method, _refusing(f"multiprocessing.{method}()"))


def _patch_multiprocessing_process(module: types.ModuleType) -> None:
    module.BaseProcess.start = _refusing("multiprocessing.Process.start()")


def _patch_multiprocessing_pool(module: types.ModuleType) -> None:
    module.Pool.__init__ = _refusing("multiprocessing.Pool()")
    module.ThreadPool.__init__ = _refusing("multiprocessing.pool.ThreadPool()")


def _patch_process_pool(module: types.ModuleType) -> None:
    module.ProcessPoolExecutor.__init__ = _refusing("concurrent.futures.ProcessPoolExecutor")


SAMPLE_IMAGES_MODULE = "sklearn.datasets.images"


def sample_images_missing() -> MissingGuestDataError:
    return MissingGuestDataError(
        "scikit-learn's sample images (china.jpg, flower.jpg) are not part of the sandbox's "
        "scikit-learn build, so load_sample_image() and load_sample_images() cannot read "
        "them; put an image in the notebook's folder and load it with "
        "matplotlib.pyplot.imread(path) or PIL.Image.open(path) instead.")


def _needs_sample_images(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if importlib.util.find_spec(SAMPLE_IMAGES_MODULE) is None:
            raise sample_images_missing()
        return function(*args, **kwargs)

    return checked


def _patch_sklearn_datasets(module: types.ModuleType) -> None:
    for name in ("load_sample_image", "load_sample_images"):
        original = getattr(module, name, None)
        if original is not None:
            setattr(module, name, _needs_sample_images(original))


def _no_tqdm_monitor(module: types.ModuleType) -> None:
    """tqdm starts a monitor thread with its first bar; the sandbox has no threads, so every
    first bar printed a ``TqdmMonitorWarning`` (``can't start new thread``). Setting
    ``monitor_interval`` to 0 is tqdm's own switch for going without it."""
    module.tqdm.monitor_interval = 0


def install(shell: Any) -> None:
    install_script_magics(shell)
    when_imported("multiprocessing.context", _patch_multiprocessing_context)
    when_imported("multiprocessing.process", _patch_multiprocessing_process)
    when_imported("multiprocessing.pool", _patch_multiprocessing_pool)
    when_imported("concurrent.futures.process", _patch_process_pool)
    when_imported("sklearn.datasets._base", _patch_sklearn_datasets)
    when_imported("tqdm.std", _no_tqdm_monitor)


__all__ = ["MissingGuestDataError", "ProcessesUnavailableError", "install",
           "script_magic_error"]
