"""One-time set-up of the guest: environment, streams, signals, input, the IPython shell."""

from __future__ import annotations

import builtins
import os
import signal
import sys
import time
from typing import Any

from . import bridge
from .shell import SandboxShell, flush_streams
from .streams import StreamToHost


class StdinNotImplementedError(IOError):
    """Raised by ``input()`` when the front end does not accept input requests (as ipykernel)."""


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
            "raw_input was called, but this frontend does not support input requests.")
    return str(reply.get("value", ""))


def _input(prompt: object = "") -> str:
    return _ask(str(prompt), False)


def _getpass(prompt: str = "Password: ", stream: Any = None) -> str:
    return _ask(prompt, True)


_real_sleep = time.sleep


def _sleep(seconds: float) -> None:
    flush_streams()
    _real_sleep(seconds)


def _exit(code: int = 0) -> None:
    raise SystemExit(f"os._exit({code}) was called; the sandbox ended this cell instead of "
                     "exiting the interpreter")


def set_up(request: dict[str, Any]) -> SandboxShell:
    os.environ.update(request.get("env") or {})
    for folder in (os.environ.get("MPLCONFIGDIR"), os.environ.get("IPYTHONDIR")):
        if folder:
            os.makedirs(folder, exist_ok=True)
    os.chdir(request.get("cwd") or "/")
    sys.stdout = StreamToHost("stdout")
    sys.stderr = StreamToHost("stderr")
    signal.signal(signal.SIGINT, _on_sigint)
    builtins.input = _input
    import getpass

    getpass.getpass = _getpass
    time.sleep = _sleep
    os._exit = _exit
    shell = SandboxShell.instance()
    shell.execution_count = int(request.get("execution_count") or 0) + 1
    return shell
