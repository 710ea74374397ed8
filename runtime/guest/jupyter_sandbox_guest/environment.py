"""One-time set-up of the guest: environment, streams, signals, input, the IPython shell."""

from __future__ import annotations

import builtins
import os
import signal
import sys
import time
from typing import Any, NoReturn, SupportsIndex

from IPython.core.error import StdinNotImplementedError

from . import bridge, streams
from .shell import SandboxShell, flush_streams


def _on_sigint(signum: int, frame: Any) -> None:
    """The host delivers interrupts and soft deadlines as SIGINT; ask it which one this is.

    A signal left over from a finished cell gets reason "none" and is ignored.
    """
    reason = bridge.call("interrupt_reason").get("reason")
    if reason == "timeout":
        raise TimeoutError("the cell ran past its time limit and was stopped")
    if reason == "interrupt":
        raise KeyboardInterrupt


def _ask(prompt: str, password: bool) -> str:
    flush_streams()
    reply = bridge.call("input", prompt=str(prompt), password=password)
    if reply.get("interrupted"):
        raise KeyboardInterrupt
    if "error" in reply:
        raise StdinNotImplementedError(
            "input() was called, but this front end does not support input requests "
            "(the cell was run without stdin); pass the value in code instead.")
    return str(reply.get("value", ""))


def _input(prompt: object = "") -> str:
    return _ask(str(prompt), False)


def _getpass(prompt: str = "Password: ", stream: Any = None) -> str:
    return _ask(prompt, True)


_real_sleep = time.sleep


def _sleep(seconds: float | SupportsIndex) -> None:
    flush_streams()
    _real_sleep(seconds)


def _exit(status: int = 0) -> NoReturn:
    raise SystemExit(f"os._exit({status}) was called; the sandbox ended this cell instead of "
                     "exiting the interpreter")


def set_up(request: dict[str, Any]) -> SandboxShell:
    os.environ.update(request.get("env") or {})
    for folder in (os.environ.get("MPLCONFIGDIR"), os.environ.get("IPYTHONDIR")):
        if folder:
            os.makedirs(folder, exist_ok=True)
    os.chdir(request.get("cwd") or "/")
    sys.stdout, sys.stderr = streams.pair()
    _import_packages_from_zip_folders()
    from . import package_metadata

    package_metadata.install()
    from . import event_loop

    event_loop.install()
    from . import network

    network.install()  # sockets, select and selectors through the host's network broker
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGUSR1, streams.flush_on_tick)  # the host's timer, while a cell runs
    builtins.input = _input
    import getpass

    getpass.getpass = _getpass
    time.sleep = _sleep
    os._exit = _exit
    from . import frontend, guest_data, unavailable

    shell = frontend.create_shell()  # named and shaped like ipykernel's, see frontend.py
    unavailable.install(shell)  # clear messages for %%perl…, multiprocessing, sample images
    from . import os_commands, shell_commands

    os_commands.install()  # os.system, os.popen, subprocess over the built-in commands
    shell_commands.install(shell)  # %%sh, %%bash, %%script sh|bash, the ls aliases
    guest_data.install()  # statsmodels' datasets whose CSV the guest build lacks
    shell.execution_count = int(request.get("execution_count") or 0) + 1
    # `obj?` pages into the execute reply's payload: SandboxShell.init_hooks, as in ipykernel.
    from . import comms, magics

    comms.install()
    magics.register(shell)
    # What ipykernel's app does at start: default extensions (%store), the working directory
    # on sys.path (from the first cell on), and a clean os.getcwd() after %cd ..
    from . import default_extensions, local_imports, working_directory

    default_extensions.load(shell)
    local_imports.install(shell)
    working_directory.install()
    return shell


def _import_packages_from_zip_folders() -> None:
    """Let packages inside the stdlib zip import their submodules although the host mounts a
    folder inside them (matplotlib's ``mpl-data``).

    The mount makes e.g. ``/usr/local/lib/python315.zip/matplotlib`` a folder on the virtual
    FS, which ``zipimporter`` refuses ("not a Zip file"), so ``matplotlib.__path__`` fell to
    the plain file finder, which sees only ``mpl-data``. This path hook, tried first, gives
    every path below an archive on ``sys.path`` a ``zipimporter`` with the right prefix.
    """
    import zipimport

    archives = [entry for entry in sys.path if os.path.isfile(entry)]

    def hook(path: str) -> zipimport.zipimporter:
        for archive in archives:
            if path.startswith(archive + "/"):
                importer = zipimport.zipimporter(archive)
                importer.prefix = path[len(archive) + 1:].rstrip("/") + "/"
                return importer
        raise ImportError("not inside a zip archive on sys.path", path=path)

    sys.path_hooks.insert(0, hook)
    sys.path_importer_cache.clear()
