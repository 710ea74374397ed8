"""Which programs a sandbox process can be, by ``argv[0]``: there are no program files in the
sandbox, so the name decides. Python (``python``, ``python3``, ``python3.15``, the guest's
``sys.executable``), ``pip``, ``node``, ``sh``/``bash`` and the guest's built-in commands; any
other name is ``ProgramNotFoundError`` (a shell's exit 127)."""

from __future__ import annotations

import posixpath
import re
from enum import StrEnum

from ..errors import ProgramNotFoundError

#: The guest's ``sys.executable``.
GUEST_EXECUTABLE = "/usr/local/bin/python.wasm"
#: Folders where a program may be named by path (``/usr/bin/python3``, ``/bin/ls``).
BIN_FOLDERS = ("", "/bin", "/usr/bin", "/usr/local/bin")
#: The guest's built-in commands (runtime/guest/jupyter_sandbox_guest/commands/builtins.py
#: ``PROGRAMS`` plus ``sh``/``bash``; tests/runtime/test_processes_programs.py keeps the
#: two equal). The host cannot import the guest package (it needs ``_host``).
BUILTIN_COMMANDS = frozenset({
    ":", "basename", "bash", "cat", "cd", "cp", "cut", "dirname", "echo", "env", "export",
    "false", "grep", "head", "ls", "mkdir", "mv", "printf", "pwd", "rm", "seq", "sh", "sleep",
    "sort", "tail", "tee", "touch", "true", "uniq", "unset", "wc", "which",
})

_PYTHON = re.compile(r"python(3(\.\d+)?)?(\.wasm)?")
_PIP = re.compile(r"pip(3(\.\d+)?)?")


class ProgramKind(StrEnum):
    PYTHON = "python"
    PIP = "pip"
    NODE = "node"
    #: A built-in command or ``sh -c``: run by the guest's commands package in a child.
    COMMAND = "command"


def classify(program: str) -> ProgramKind:
    """What ``program`` (``argv[0]``) runs as, or ``ProgramNotFoundError``."""
    if program == GUEST_EXECUTABLE:
        return ProgramKind.PYTHON
    folder, name = posixpath.split(program)
    if folder.rstrip("/") not in BIN_FOLDERS and folder != "":
        raise ProgramNotFoundError(program, runnable())
    if _PYTHON.fullmatch(name):
        return ProgramKind.PYTHON
    if _PIP.fullmatch(name):
        return ProgramKind.PIP
    if name in ("node", "nodejs"):
        return ProgramKind.NODE
    if name in BUILTIN_COMMANDS:
        return ProgramKind.COMMAND
    raise ProgramNotFoundError(program, runnable())


def runnable() -> list[str]:
    return sorted(n for n in BUILTIN_COMMANDS if n != ":")
