"""What a program receives: argv, byte streams and the shell's state (environment and
working directory), so that programs never touch the guest's ``os.environ`` or ``os.getcwd()``
unless the shell was asked to (a ``!cmd`` line is a subshell, as on the stock kernel)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = ["Invocation", "Program", "ShellState", "UsageError", "quote"]


@dataclass
class ShellState:
    """The state a command line runs in and may change (``cd``, ``export``, ``VAR=x``)."""

    env: dict[str, str]
    cwd: str
    status: int = 0
    #: Set by ``cd``: the caller decides whether the guest process follows.
    changed_directory: bool = False

    def copy(self) -> ShellState:
        return ShellState(dict(self.env), self.cwd, self.status)


class UsageError(Exception):
    """A program's bad option or missing operand: the program prints the message and the
    ``Try '... --help'`` hint and exits with ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Invocation:
    """One run of a program: ``argv[0]`` is its name."""

    argv: list[str]
    stdin: BinaryIO
    stdout: BinaryIO
    stderr: BinaryIO
    state: ShellState
    #: Runs another program with this invocation's streams (``env CMD``), set by the runner.
    call: Callable[[Invocation], int] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.argv[0]

    @property
    def args(self) -> list[str]:
        return self.argv[1:]

    def path(self, name: str) -> str:
        """``name`` relative to the shell's working directory, not the guest's."""
        return os.path.join(self.state.cwd, name)

    def write(self, data: bytes | str) -> None:
        self.stdout.write(os.fsencode(data) if isinstance(data, str) else data)

    def error(self, message: str) -> None:
        """``NAME: message`` on stderr, as GNU tools print their errors."""
        self.stderr.write(os.fsencode(f"{self.name}: {message}\n"))

    def os_error(self, template: str, error: OSError) -> None:
        """An error such as ``cannot access 'x': No such file or directory``."""
        self.error(f"{template}: {error.strerror or error}")

    @contextmanager
    def open_input(self, name: str) -> Iterator[BinaryIO]:
        """``-`` is stdin; otherwise the file, opened relative to the shell's directory."""
        if name == "-":
            yield self.stdin
            return
        with open(self.path(name), "rb") as stream:
            yield stream


Program = Callable[[Invocation], int]


def quote(name: str) -> str:
    """A name as GNU tools quote it in messages: ``'x'`` (``"it's"`` if it holds a ')."""
    if "'" in name:
        return '"' + name.replace('"', '\\"') + '"'
    return f"'{name}'"
