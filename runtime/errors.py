"""The runtime's exceptions, all in one module. Each also inherits the built-in a caller would
expect to catch, and its message says what happened and what to do next.

``pip_errors`` and ``snapshot_errors`` re-export the ``%pip`` and snapshot ones for older imports.
"""

from __future__ import annotations

import errno

from .snapshot_names import invalid_name_message


class SandboxError(RuntimeError):
    """Base class for everything the sandbox runtime raises on purpose."""


class SandboxClosedError(SandboxError):
    """The sandbox was closed; start a new one."""

    def __init__(self) -> None:
        super().__init__("this sandbox is closed; start a new Sandbox to run more code")


class GuestThreadEndedError(SandboxError, RuntimeError):
    """The sandbox's guest thread ended without being stopped: nothing can run any more."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"the guest thread {name} of this sandbox ended unexpectedly ({why}); "
                         "restart the kernel (or start a new Sandbox) to run more code")


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


class JavaScriptEngineError(SandboxError):
    """The JavaScript engine behind ``node`` (quickjs-rs's QuickJS wasm) is missing or cannot
    be loaded; the message says what to install."""


class WrongThreadError(SandboxError):
    """Code touched a guest's wasmtime store from a thread other than the sandbox's guest
    thread (a bug in the caller: queue the work on the sandbox's worker instead)."""

    def __init__(self, what: str, owner: str, current: str) -> None:
        super().__init__(f"{what} must run on the sandbox's guest thread {owner!r}, not on "
                         f"{current!r}: queue it on the sandbox's worker (Sandbox._call / "
                         "GuestWorker.submit) instead of touching the store directly")


class WasmRewriteError(SandboxError, ValueError):
    """The guest module does not have the shape the export rewrite relies on (a rebuilt or
    damaged ``python.wasm``): reinstall jupyter-sandbox's guest artifacts."""


# -- %pip ---------------------------------------------------------------------------------
#: The exact refusal for packages that only exist as compiled wheels or sdists.
COMPILED_REFUSAL = "contains compiled code; the sandbox can only add pure-Python packages"


class PackageError(SandboxError, ValueError):
    """``%pip`` refused or failed; the message says why and is shown to the user as is."""


# -- snapshots ----------------------------------------------------------------------------
#: The command that makes a snapshot from elsewhere usable here (see ``snapshot_signing``).
IMPORT_COMMAND = "jupyter-sandbox snapshot import FILE"


class SnapshotError(SandboxError, ValueError):
    """A snapshot cannot be used; the message says why. Nothing was changed."""


class SnapshotNotTrustedError(SnapshotError):
    """The snapshot's signature does not match this installation's key: it was made by another
    installation or changed since, so it is not restored unless the user imports it."""

    def __init__(self) -> None:
        super().__init__(
            "the snapshot was not made by this jupyter-sandbox installation (or was changed "
            "after it was written): its signature does not match this installation's key, so "
            f"it is refused. If you trust the file, import it with `{IMPORT_COMMAND}` "
            "(it checks every part and signs it for this installation), then use it again.")


class SnapshotKeyError(SnapshotError, OSError):
    """The installation's snapshot key cannot be read or created."""

    def __init__(self, path: object, why: str) -> None:
        super().__init__(f"the snapshot signing key {path} cannot be used: {why}. Fix the file "
                         "(32 bytes, mode 0600, owned by you) or remove it to make a new one "
                         "(snapshots signed with the old key then need importing).")


class SnapshotBudgetError(SnapshotError):
    """Saving a named snapshot would pass the sandbox's snapshot budget (count or bytes)."""


class SnapshotTooLargeError(SnapshotError):
    """The snapshot holds more memory or files than this sandbox's limits allow (it may fit a
    sandbox with larger limits)."""


class GuestMessageError(SandboxError, ValueError):
    """A message from the guest does not have the shape its type requires (it is dropped)."""

    def __init__(self, msg_type: object, reason: str) -> None:
        shown = msg_type if isinstance(msg_type, str) and len(msg_type) <= 40 else "?"
        super().__init__(f"a malformed {shown!r} message from the sandbox was dropped: {reason}")
        self.reason = reason


class GuestRequestError(SandboxError, RuntimeError):
    """The guest could not carry out a host request: it answered with an error, or with a
    reply that does not have the request's shape. The message says which."""

    def __init__(self, request_type: str, reason: str) -> None:
        super().__init__(f"the sandbox could not answer {request_type!r}: {reason}")
        self.reason = reason


class ResponseAborted(SandboxError):
    """The app failed after its response had started: the connection must be cut."""


class SnapshotNameError(SandboxError, ValueError):
    """A snapshot name that could form a path or is too long (names are ``[A-Za-z0-9_-]``)."""

    def __init__(self, name: str) -> None:
        super().__init__(invalid_name_message(name))


class SnapshotNotFoundError(SandboxError, KeyError):
    """No snapshot of that name (a ``KeyError`` whose message reads as a sentence)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no snapshot named {name!r}; `%snapshot list` shows the saved ones")

    def __str__(self) -> str:
        return str(self.args[0])


# -- limits of a running sandbox ------------------------------------------------------------
class LimitRaiseError(SandboxError, ValueError):
    """``Sandbox.lower_limits`` was asked for a limit above the current one or below what the
    sandbox already uses; nothing was changed."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"cannot set the running sandbox's {name}: {reason}. Limits of a "
                         "running sandbox can only be lowered, and not below its current "
                         "use: start a new sandbox with the limits you need")
        self.name = name


# -- processes inside the sandbox (runtime/processes/) --------------------------------------
class ProcessError(SandboxError):
    """Base class of the errors starting or driving a sandbox process."""


class ProgramNotFoundError(ProcessError, FileNotFoundError):
    """The program is none the sandbox can run (a shell would exit 127)."""

    def __init__(self, program: str, runnable: list[str]) -> None:
        super().__init__(f"{program}: not found in the sandbox, which runs no host programs. "
                         f"It can run: python (python3, sys.executable), pip, node, sh/bash "
                         f"-c LINE and its built-in commands ({', '.join(runnable)})")
        self.program = program


class ProcessLimitError(ProcessError, BlockingIOError):
    """The sandbox already runs as many processes as its limit allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the sandbox already runs {limit} processes, its limit "
                         "(Limits.max_processes, kernel trait SandboxKernel.max_processes); "
                         "wait for one to end or kill one (Popen.kill, %sandbox lists them)")
        self.limit = limit


class ProcessMemoryError(ProcessError, MemoryError):
    """A new process would not fit in what is left of the sandbox's memory limit."""

    def __init__(self, needed: int, free: int, limit: int, used: int) -> None:
        mib = 1 << 20
        super().__init__(f"a new process needs at least {needed // mib} MiB but only "
                         f"{free // mib} MiB of the sandbox's {limit // mib} MiB memory limit "
                         f"are free ({used // mib} MiB held by the notebook and its running "
                         "processes); end a process or raise Limits.memory_bytes")
        self.needed, self.free, self.limit, self.used = needed, free, limit, used


class WorkspaceMountError(SandboxError, ValueError):
    """A host folder cannot be mounted at /workspace of a running sandbox (a pre-started
    kernel handed over to a notebook); the message says why and what to do instead."""


# -- network (runtime/network/: the broker raises these; the router answers the guest) ------
#: The trait an administrator sets to turn the network on (named in the messages).
NETWORK_TRAIT = "SandboxKernel.network"
ALLOW_TRAIT = "SandboxKernel.network_allow"


class NetworkError(SandboxError, OSError):
    """Base class; ``kind`` says which exception the guest raises."""

    kind = "os"
    errno: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NetworkDisabledError(NetworkError, PermissionError):
    """The sandbox's network policy is off (the default)."""

    kind = "disabled"
    errno = errno.EACCES

    def __init__(self) -> None:
        super().__init__(
            "network access is off in this sandbox: the administrator has not enabled it. "
            f"Ask them to set c.{NETWORK_TRAIT} = True and allow the hosts you need in "
            f"c.{ALLOW_TRAIT} (e.g. ['api.example.com:443']) in the Jupyter configuration.")


class NetworkRefusedError(NetworkError, PermissionError):
    """The policy refused this host or address; the message names the rule or range."""

    kind = "refused"
    errno = errno.EACCES

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"the sandbox's network policy refused {target}: {reason}")
        self.reason = reason


class NetworkLimitError(NetworkError):
    """A connection or byte limit of the policy was reached."""

    kind = "limit"
    errno = errno.EDQUOT


class RequestRefusedError(NetworkError, PermissionError):
    """A request to a host with injected headers was not well-formed HTTP/1.x; the host closed
    the connection instead of guessing where the request ends."""

    kind = "refused"
    errno = errno.EACCES

    def __init__(self, host: str, why: str) -> None:
        super().__init__(
            f"the host refused to forward a request to {host}: {why}. The administrator adds "
            "headers to requests for this host (SandboxKernel.network_inject_headers), so the "
            "host reads each request and only forwards well-formed HTTP/1.1 (or 1.0) requests; "
            "use a standard client (urllib, requests, httpx) and open a new connection")


class TlsError(NetworkError):
    """The TLS handshake failed for another reason than the certificate (the guest raises
    ``ssl.SSLError``)."""

    kind = "ssl"
    errno = errno.EPROTO


class TlsVerificationError(NetworkError):
    """The server's certificate did not verify (the guest raises
    ``ssl.SSLCertVerificationError`` with this message); ``errno`` is OpenSSL's verify code."""

    kind = "cert"

    def __init__(self, message: str, verify_code: int | None) -> None:
        super().__init__(message)
        self.errno = verify_code


class ConnectionLostError(NetworkError, ConnectionResetError):
    """A connection id the broker does not hold: it was open when a snapshot was taken (or in
    the sandbox a snapshot came from) and connections are never restored."""

    kind = "lost"
    errno = errno.ECONNRESET

    def __init__(self) -> None:
        super().__init__("this connection is gone: the host closed it (after refusing a "
                         "request or at a limit), or it was open when a snapshot was taken "
                         "and that snapshot was restored (connections are not part of a "
                         "snapshot); open a new one")
