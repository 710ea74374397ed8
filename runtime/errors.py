"""The runtime's exceptions. Each also inherits the built-in a caller would expect to catch,
and its message says what happened and what to do next."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """Base class for everything the sandbox runtime raises on purpose."""


class SandboxClosedError(SandboxError):
    """The sandbox was closed; start a new one."""

    def __init__(self) -> None:
        super().__init__("this sandbox is closed; start a new Sandbox to run more code")


class SandboxBusyError(SandboxError):
    """Another operation holds the sandbox."""


class SandboxPathError(SandboxError, ValueError):
    """A path given to the files API is not inside the sandbox's filesystem."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"bad sandbox path {path!r}: {reason}")
        self.path = path
        self.reason = reason


class SandboxFileNotFoundError(SandboxError, FileNotFoundError):
    """A path given to the files API does not exist in the sandbox."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no such file or folder in the sandbox: {path!r}")
        self.path = path


class GuestDiedError(SandboxError):
    """The guest interpreter trapped (hard stop, stack overflow in C, host bug)."""


class ModuleCacheError(SandboxError):
    """The compiled-module cache could not be written or read."""
