"""What the server extension and a kernel agree on: the kernel's control socket (routes, bodies,
size limits, content types, the error envelope), the environment variables one sets for the
other, the snapshot-name rule and where a notebook's sandbox state lives on disk.

This is the ONLY module of the kernel the server extension imports, so it imports nothing
beyond the standard library and two pure helpers of the runtime (``runtime.snapshot_names``,
``runtime.atomic_file``, themselves standard-library only): importing the server extension
must never load wasmtime, IPython, ipykernel or the guest (tests/server/test_import_isolation.py).

The socket lies beside the kernel's connection file (in Jupyter's runtime directory), named
after it: ``kernel-<id>.json`` → ``kernel-<id>.sandbox.sock`` (mode 0600). It speaks HTTP/1.1.
Every error answer of a route below (and 404 for any other path, 405 for another method) is the
one JSON envelope ``ErrorBody`` — ``{"message", "reason", "code", "hint"}`` — which the server
extension also answers its own clients with (see ``ErrorBody`` for why this shape). The codes a
route gives beyond ``ERROR_CODES`` (the default by status) are listed with it.

=========================================  ==================================================
Route                                      Request → answer
=========================================  ==================================================
``GET /status``                            → ``Sandbox.status()`` as JSON.
``/preview/<port>/<path>``, any method     → the response of the app the guest serves on
                                           ``<port>``, streamed. The proxy describes the
                                           public request in ``FORWARDED_HEADERS``
                                           (``X-Forwarded-Prefix``: the URL path the app is
                                           published under, no trailing slash); every other
                                           header but ``HOP_BY_HOP`` goes to the app.
``/preview-ws/<port>/<path>``              the same as a WebSocket. Errors of these two
                                           routes are the app's answer (or a fixed text when
                                           no app is there), never the envelope: they are
                                           shown to a browser as the page.
``GET /previews``                          → ``PreviewsListBody``: the ports of the preview
                                           apps registered inside (a guest ``previews_list``
                                           request); 502 ``sandbox_error`` when the guest
                                           fails.
``DELETE /previews/<port>``                stop the preview app on ``<port>`` (a guest
                                           ``preview_stop`` request) → 204; 404 when none is
                                           registered there; 400 ``bad_port`` outside
                                           1-65535; 502 ``sandbox_error``.
``GET /snapshot``                          → the whole sandbox as snapshot bytes
                                           (``OCTET_STREAM``), taken between cells.
``PUT /snapshot``                          snapshot bytes (at most ``MAX_SNAPSHOT_BYTES``)
                                           → ``RestoreBody``; 400 ``bad_snapshot`` when the
                                           snapshot cannot be used (the sandbox is untouched).
``GET /snapshots``                         → ``SnapshotListBody``: the named snapshots.
``POST /snapshots/<name>``                 save one → 201 ``SnapshotInfoBody``.
``POST /snapshots/<name>/restore``         → ``NamedRestoreBody``.
``DELETE /snapshots/<name>``               → 204. These three: 404 unknown name, 400
                                           ``bad_name`` (invalid name) or ``bad_snapshot``.
``POST /exec``                             ``ExecRequest`` → ``NDJSON``: one Jupyter-shaped
                                           ``ExecMessage`` per line as the cell produces it,
                                           ending with one ``execute_reply`` line; 400 when
                                           the body is not an ``ExecRequest``.
``POST /interrupt``                        interrupt the running cell → 204.
``POST /packages``                         ``PackagesRequest`` → ``{"result", "output"}``;
                                           400 (``output``: pip's) when pip or the package
                                           policy refuses, or the request is malformed.
``GET /files/<path>``                      the file's bytes (``OCTET_STREAM``, chunked);
                                           ``?list``: ``FileListBody``.
``PUT /files/<path>``                      the bytes → 201 ``FileInfoBody``.
``DELETE /files/<path>``                   (``?recursive`` for a folder) → 204. File errors:
                                           400 ``bad_path``, 404 ``not_found``, 409
                                           ``is_a_folder`` (a folder where a file is
                                           expected), 413 ``quota_exceeded``.
``POST /commands``                         ``CommandRequest`` → foreground: ``NDJSON``, one
                                           ``CommandStartLine``, then output lines
                                           (``CommandOutputLine``) as the process writes, then one
                                           ``CommandExitLine``; a program the sandbox cannot
                                           run exits 127 with its message on stderr.
                                           ``"background": true`` → 201 ``ProcessInfoBody``
                                           at once (400 ``program_not_found`` for such a
                                           program). 400 malformed; 429
                                           ``too_many_processes``; 409 ``memory_limit``.
``GET /commands``                          → ``ProcessListBody`` (running, recently ended).
``GET /commands/<pid>``                    → ``ProcessInfoBody``.
``GET /commands/<pid>/logs``               → ``NDJSON``: the log from the start (``?offset=N``:
                                           from its chunk N) as ``CommandOutputLine``, live
                                           until the process ends, then a
                                           ``CommandExitLine``. Re-attachable any time.
``POST /commands/<pid>/stdin``             the bytes (at most ``MAX_STDIN_BYTES``) to its
                                           stdin; ``?close``: then close it (EOF) → 204; 409
                                           ``stdin_closed``.
``DELETE /commands/<pid>``                 kill it (hard stop; an ended one: nothing) → 204.
                                           These five: 404 ``not_found`` for an unknown pid.
``POST /handover``                         ``HandoverRequest`` → ``HandoverBody``: a pooled
                                           kernel becomes one user's sandbox: its limits
                                           lowered to the request's (never raised, never
                                           below current use), its metadata kept, a host
                                           folder mounted at ``/workspace``. Once per
                                           kernel: 409 ``conflict`` after that; 400
                                           ``bad_limits`` (nothing changed) or
                                           ``bad_request``.
``GET /network``                           → ``NetworkBody``: the network policy in force,
                                           the administrator's (its ceiling) and the recent
                                           connection attempts, newest last.
``PUT /network``                           ``NetworkPolicyRequest`` → ``NetworkBody``: the
                                           policy for the next connection, narrowed within
                                           the administrator's (``runtime.network.policy.
                                           narrowed``); 400 ``bad_network_policy`` (a bad
                                           rule or field: nothing changed), 403
                                           ``network_not_permitted`` (it would widen the
                                           administrator's policy), 413 over
                                           ``MAX_NETWORK_BODY``.
=========================================  ==================================================

Command streams (``POST /commands`` in the foreground, ``/logs``) also carry blank lines
while nothing happens, about every ``COMMAND_KEEPALIVE`` seconds: skip them. They let each
hop notice a client that left (a foreground process is then killed; a log reader just stops).
"""

from __future__ import annotations

import hashlib
import os
from enum import Enum
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from jupyter_sandbox.runtime.atomic_file import atomic_write
from jupyter_sandbox.runtime.snapshot_names import NAME as SNAPSHOT_NAME
from jupyter_sandbox.runtime.snapshot_names import SUFFIX as SNAPSHOT_SUFFIX
from jupyter_sandbox.runtime.snapshot_names import invalid_name_message, is_snapshot_name

__all__ = [
    "DEFAULT_HINTS", "ERROR_CODES", "FORWARDED_HEADERS", "HOP_BY_HOP", "JSON", "KERNEL_ID_ENV",
    "MAX_SNAPSHOT_BYTES", "MAX_SOCKET_PATH", "NDJSON", "OCTET_STREAM", "PACKAGE_ACTIONS",
    "PREVIEW_URL_ENV",
    "SERVER_URL_ENV", "SESSION_NAME_ENV", "SNAPSHOT_NAME", "SNAPSHOT_SUFFIX", "SOCKET_SUFFIX",
    "START_SNAPSHOT_ENV", "AWAIT_FOLDER_ENV", "BAD_LIMITS", "HANDOVER_HOST_FOLDER_MODES",
    "HANDOVER_LIMITS",
    "HandoverBody", "HandoverLimits", "HandoverRequest",
    "COMMAND_KEEPALIVE", "MAX_STDIN_BYTES", "MEMORY_LIMIT",
    "PROGRAM_NOT_FOUND", "STDIN_CLOSED", "TOO_MANY_PROCESSES", "CommandExitLine",
    "CommandOutputLine", "CommandRequest", "CommandStartLine", "ProcessInfoBody",
    "ProcessListBody", "ErrorBody", "ExecMessage", "ExecRequest", "NamedRestoreBody",
    "BAD_NETWORK_POLICY", "MAX_NETWORK_BODY", "NETWORK_NOT_PERMITTED", "ConnectionRecordBody",
    "InjectedHeaderBody", "NetworkBody", "NetworkPolicyBody", "NetworkPolicyRequest",
    "PackagesRequest", "PreviewsListBody", "ReplyStatus", "RestoreBody", "SnapshotInfoBody",
    "SnapshotListBody", "atomic_write", "error_body", "invalid_name_message", "is_snapshot_name",
    "kernel_id_from", "kernel_notebook_path", "named_snapshot_folder", "notebook_key",
    "pending_restore_path", "socket_path_for", "state_root"
]

# -- environment variables ----------------------------------------------------------------------
#: The Jupyter server sets this in its environment (so kernels it starts inherit it): its
#: public base URL, ending with "/".
SERVER_URL_ENV = "JUPYTER_SANDBOX_SERVER_URL"
#: A snapshot file the kernel's sandbox starts from (``SandboxKernel.start_from_snapshot``); the
#: sandbox service restores its recovery points with ``PUT /snapshot`` instead, and unsets it.
START_SNAPSHOT_ENV = "JUPYTER_SANDBOX_SNAPSHOT"
#: jupyter_server tells a kernel its notebook's path in this variable.
SESSION_NAME_ENV = "JPY_SESSION_NAME"
#: Set (to "1") for a kernel pre-started for notebooks not yet known (server_extension's
#: ``PooledKernelManager``): its sandbox starts without a host folder and gets the notebook's
#: at ``POST /handover``; it also reads no checkpoint of a notebook at start.
AWAIT_FOLDER_ENV = "JUPYTER_SANDBOX_AWAIT_FOLDER"
#: Guest environment set by the kernel: its id, and the public URL its previews appear under.
KERNEL_ID_ENV = "JUPYTER_SANDBOX_KERNEL_ID"
PREVIEW_URL_ENV = "JUPYTER_SANDBOX_PREVIEW_URL"

# -- the socket ---------------------------------------------------------------------------------
SOCKET_SUFFIX = ".sandbox.sock"
#: AF_UNIX paths longer than this do not fit ``sockaddr_un`` on Linux.
MAX_SOCKET_PATH = 107
FORWARDED_HEADERS = ("X-Forwarded-Prefix", "X-Forwarded-Host", "X-Forwarded-Proto",
                     "X-Forwarded-For")
#: Hop-by-hop headers (RFC 9110 §7.6.1): never passed on by a proxy.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})

# -- sizes and content types ----------------------------------------------------------------------
#: Largest snapshot accepted by ``PUT /snapshot`` (and read back by the server's clients).
MAX_SNAPSHOT_BYTES = 8 << 30
JSON = "application/json"
NDJSON = "application/x-ndjson"
OCTET_STREAM = "application/octet-stream"


# -- the error envelope -------------------------------------------------------------------------
class ErrorBody(TypedDict):
    """The one JSON error envelope, on the kernel's control socket and on every JSON route of the
    server extension (``sandbox/api/kernels/...``, ``sandbox/api/v1/...``,
    ``sandbox/api/preview-settings``, and any unknown path under ``sandbox/api/``)::

        {"message": "no sandbox with id 'x'", "reason": "Not Found",
         "code": "not_found", "hint": "GET sandbox/api/v1/sandboxes lists the sandboxes"}

    * ``message`` — what went wrong, in a sentence a person can act on;
    * ``reason`` — the HTTP reason phrase of the status;
    * ``code`` — a short machine-readable word (``ERROR_CODES`` by status unless the route has
      a more precise one, e.g. ``quota_exceeded``, ``is_a_folder``, ``bad_path``); clients
      branch on it rather than on the message;
    * ``hint`` — what to do next ("" when the message already says it);
    * ``output`` — only for ``POST /packages``: pip's output of the refused request.

    Why this shape: it is jupyter_server's own ``APIHandler`` error body (``message``,
    ``reason``) with two fields added. Every Jupyter client already reads ``message`` from it —
    JupyterLab's ``ServerConnection.ResponseError``, our JupyterLab extension, scripts written
    against ``/api/kernels`` — and errors that jupyter_server itself raises before our code
    runs (a refused login, an XSRF failure) have the same top-level ``message``, so a client
    sees one shape wherever on the server the error came from. The nested ``{"error": {...}}``
    of many REST APIs would have been a second shape beside jupyter_server's. Never a
    traceback: details go to the log of the process that failed.

    Preview pages (``sandbox/preview/...`` and preview origins) are not JSON routes: their own
    errors are fixed ``text/plain`` pages for browsers that never echo the request, and the
    errors of the app inside are the app's answer, passed through.
    """

    message: str
    reason: str
    code: str
    hint: str
    output: NotRequired[list[str]]


#: The code of an error by its HTTP status, when the route has no more precise one.
ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large",
               429: "too_many_sandboxes", 500: "internal_error", 502: "sandbox_failed",
               503: "unavailable", 504: "timeout"}

#: What to do next, by code, for errors that give no hint of their own.
DEFAULT_HINTS = {
    "unauthorized": "Log in to Jupyter, or send the server's token as the header "
                    "'Authorization: token <token>' (`jupyter server list` shows it).",
    "forbidden": "Log in to Jupyter, or send the server's token as the header "
                 "'Authorization: token <token>' (`jupyter server list` shows it); a user "
                 "without the 'kernels' permission cannot use sandboxes.",
    "method_not_allowed": "See the routes and their methods in "
                          "jupyter_sandbox/kernel/control_protocol.py (or, for the sandbox "
                          "service, GET sandbox/api/v1/openapi.json).",
    "sandbox_failed": "The sandbox's kernel may have stopped: restart the kernel (or create a "
                      "new sandbox) and try again; the kernel's log says why it stopped.",
    "internal_error": "This is a bug: the log of the Jupyter server (or of the kernel) has "
                      "the traceback; please report it.",
    "timeout": "Try again once the sandbox is less busy, or ask the administrator for a "
               "longer limit.",
}


def error_body(status: int, message: str, code: str | None = None,
               hint: str | None = None) -> ErrorBody:
    """The envelope of an error answered with HTTP ``status``."""
    chosen = code or ERROR_CODES.get(status, "error")
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return {"message": message, "reason": reason, "code": chosen,
            "hint": DEFAULT_HINTS.get(chosen, "") if hint is None else hint}


# -- bodies -------------------------------------------------------------------------------------
class ReplyStatus(str, Enum):
    """How a cell ended (``execute_reply``'s ``status``)."""

    OK = "ok"
    ERROR = "error"
    ABORTED = "aborted"


class ExecRequest(TypedDict):
    """``POST /exec``."""

    code: str


class ExecMessage(TypedDict):
    """One line of ``POST /exec``'s NDJSON answer."""

    msg_type: str
    content: dict[str, Any]
    metadata: dict[str, Any]


class FileInfoBody(TypedDict):
    """One file or folder of the sandbox's filesystem (``PUT /files/<path>``'s answer, items
    of ``FileListBody``); ``mtime_ns`` as the guest sees it."""

    path: str
    name: str
    type: Literal["file", "directory"]
    size: int
    mtime_ns: int


class FileListBody(TypedDict):
    """``GET /files/<folder>?list``: the folder's absolute path in the sandbox and its entries."""

    path: str
    files: list[FileInfoBody]


class PreviewsListBody(TypedDict):
    """``GET /previews``."""

    ports: list[int]


class RestoreBody(TypedDict):
    """``PUT /snapshot``."""

    execution_count: int


class NamedRestoreBody(TypedDict):
    """``POST /snapshots/<name>/restore``."""

    name: str
    execution_count: int


class SnapshotInfoBody(TypedDict):
    """One named snapshot (``POST /snapshots/<name>``, items of ``GET /snapshots``)."""

    name: str
    size: int
    created: float
    execution_count: int


class SnapshotListBody(TypedDict):
    """``GET /snapshots``."""

    snapshots: list[SnapshotInfoBody]


class PackagesRequest(TypedDict):
    """``POST /packages``: ``action`` is one of ``PACKAGE_ACTIONS``."""

    action: str
    args: list[str]


PACKAGE_ACTIONS = ("install", "uninstall", "list")


# -- commands (processes inside the sandbox) ------------------------------------------------
#: Largest body of ``POST /commands/<pid>/stdin`` (and of ``stdin`` in ``CommandRequest``).
MAX_STDIN_BYTES = 16 << 20
#: Seconds of silence after which a command stream sends a blank keep-alive line.
COMMAND_KEEPALIVE = 5.0
#: Error codes of the command routes (beyond ``ERROR_CODES``).
TOO_MANY_PROCESSES = "too_many_processes"    # 429: the sandbox's process limit
MEMORY_LIMIT = "memory_limit"                # 409: the sandbox's memory is taken by others
PROGRAM_NOT_FOUND = "program_not_found"      # 400: background start of an unknown program
STDIN_CLOSED = "stdin_closed"                # 409: stdin already closed or the process ended


class CommandRequest(TypedDict):
    """``POST /commands``. ``cmd``: an argv list (``["python", "-c", "print(1)"]``, run as
    is) or a string, run by the sandbox's shell (``sh -c``: pipes, redirects, ``&&``...).
    ``stdin``: text given to the process's stdin (``stdin_base64``: bytes, base64), which is
    then closed unless ``keep_stdin_open`` (default: ``background``). ``timeout``: seconds,
    then the process is killed. ``env`` is added to the sandbox's environment."""

    cmd: list[str] | str
    cwd: NotRequired[str]
    env: NotRequired[dict[str, str]]
    stdin: NotRequired[str]
    stdin_base64: NotRequired[str]
    keep_stdin_open: NotRequired[bool]
    timeout: NotRequired[float]
    background: NotRequired[bool]


class ProcessInfoBody(TypedDict):
    """One process (``runtime.processes.ProcessInfo.to_json()``): ``state`` is ``running``,
    ``exited`` or ``killed`` (``exit_code`` -9); times are wall clock (``time.time()``);
    ``origin`` ``api`` (this endpoint) or ``cell`` (started by the notebook's code)."""

    pid: int
    argv: list[str]
    cwd: str
    state: Literal["running", "exited", "killed"]
    exit_code: int | None
    started_at: float
    ended_at: float | None
    background: bool
    origin: str
    memory_bytes: int


class ProcessListBody(TypedDict):
    """``GET /commands``."""

    processes: list[ProcessInfoBody]


class CommandStartLine(TypedDict):
    """The first line of a foreground ``POST /commands``: the process's pid."""

    type: Literal["start"]
    pid: int


class CommandOutputLine(TypedDict):
    """Output, one line per chunk the process wrote. ``data`` is the chunk decoded as UTF-8
    (invalid bytes replaced by U+FFFD); when the chunk is not valid UTF-8 on its own (binary
    output, or a character split between two chunks) ``base64`` holds its exact bytes. So a
    chunk's bytes are always ``base64`` when present, else ``data`` encoded as UTF-8; decode
    the joined bytes of a stream to get its exact text. ``offset``: the chunk's index in the
    process's log (``?offset=`` of ``/logs`` starts there)."""

    type: Literal["stdout", "stderr"]
    data: str
    offset: int
    base64: NotRequired[str]


class CommandExitLine(TypedDict):
    """The last line of a command stream: how the process ended (``exit_code`` -9 and
    ``state`` ``killed`` after a kill or its time limit)."""

    type: Literal["exit"]
    pid: int
    exit_code: int | None
    state: str


# -- hand-over of a pooled kernel -------------------------------------------------------------
#: The limits ``HandoverRequest`` may lower (the sandbox service's names and units).
HANDOVER_LIMITS = ("memory_mib", "workspace_mib", "cell_timeout")
HANDOVER_HOST_FOLDER_MODES = ("overlay", "readonly")
#: 400 of ``POST /handover``: a limit above the kernel's own or below what its sandbox uses.
BAD_LIMITS = "bad_limits"


class HandoverLimits(TypedDict, total=False):
    """Limits to lower at hand-over; absent or 0: unchanged. ``cell_timeout`` in seconds."""

    memory_mib: int
    workspace_mib: int
    cell_timeout: float


class HandoverRequest(TypedDict):
    """``POST /handover``. ``metadata``: the owner's (kept, answered back); ``host_folder``:
    an absolute host path shown at ``/workspace`` as ``host_folder_mode``, or null.

    A notebook's kernel (one pre-started with ``AWAIT_FOLDER_ENV``) gets its notebook's
    folder as ``host_folder``; then ``host_folder_mode`` may be left out (null), meaning the
    kernel's own ``SandboxKernel.host_folder_mode`` as at a normal start (``off``: nothing is
    mounted), and ``notebook_path`` is what jupyter_server would have put in
    ``SESSION_NAME_ENV`` (the notebook's path): the kernel process then works in the folder
    and keeps that notebook's named snapshots, as one started there."""

    limits: HandoverLimits
    metadata: dict[str, Any]
    host_folder: str | None
    host_folder_mode: str | None
    notebook_path: NotRequired[str | None]


class HandoverBody(TypedDict):
    """``POST /handover``'s answer: the sandbox's limits now (as ``GET /status`` gives them,
    in bytes and seconds), the metadata and the mounted folder."""

    limits: dict[str, Any]
    metadata: dict[str, Any]
    host_folder: str | None


# -- network policy ---------------------------------------------------------------------------
#: Largest body of ``PUT /network``.
MAX_NETWORK_BODY = 256 << 10
#: Error codes of ``PUT /network`` (beyond ``ERROR_CODES``).
BAD_NETWORK_POLICY = "bad_network_policy"         # 400: a bad rule or field
NETWORK_NOT_PERMITTED = "network_not_permitted"   # 403: it would widen the admin's policy


class NetworkPolicyRequest(TypedDict, total=False):
    """``PUT /network`` (and the ``network`` object of the service's ``POST /sandboxes``).
    Rules: ``"example.com"``, ``"*.example.com"``, ``"api.example.com:443"``,
    ``"10.0.0.0/8"``, ``"127.0.0.1:8080"``, ``"[::1]:80"``, ``"*"``. Leaving a field out keeps
    the administrator's value; limits may only be lowered. The read-only fields of
    ``NetworkPolicyBody`` may be sent back unchanged (what GET answered can be PUT back)."""

    enabled: bool
    allow: list[str]
    deny: list[str]
    max_connections: int
    max_bytes_per_cell: int
    max_bytes_per_sandbox: int


class InjectedHeaderBody(TypedDict):
    """A header the host adds for a host rule; its value is never shown."""

    host: str
    header: str


class NetworkPolicyBody(TypedDict):
    """A policy (``NetworkPolicy.to_json()``); ``administrator``: the ceiling it was narrowed
    from, when it was changed through the API."""

    enabled: bool
    allow: list[str]
    deny: list[str]
    max_connections: int
    max_bytes_per_cell: int
    max_bytes_per_sandbox: int
    connect_timeout: float
    ca_bundle: str | None
    inject_headers: list[InjectedHeaderBody]
    administrator: NotRequired[NetworkPolicyBody]


class ConnectionRecordBody(TypedDict):
    """One connection attempt of the audit: ``address`` null when refused before resolving;
    times wall clock (``time.time()``), ``ended_at`` null while open."""

    host: str
    address: str | None
    port: int
    allowed: bool
    reason: str
    bytes_sent: int
    bytes_received: int
    started_at: float
    ended_at: float | None
    tls: bool
    #: The host name (or address) the host's TLS verified the certificate for; null if no TLS.
    tls_peer: str | None


class NetworkBody(TypedDict):
    """``GET``/``PUT /network``: ``policy`` in force, the ``administrator``'s policy, the
    recent ``connections`` (at most 100, newest last), how many are open and the bytes the
    sandbox moved so far."""

    policy: NetworkPolicyBody
    administrator: NetworkPolicyBody
    connections: list[ConnectionRecordBody]
    open_connections: int
    bytes: int


# -- socket paths -------------------------------------------------------------------------------
def socket_path_for(connection_file: str | Path) -> Path:
    """The control socket of the kernel whose connection file is ``connection_file``."""
    path = Path(connection_file)
    name = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(name + SOCKET_SUFFIX)


def kernel_id_from(connection_file: str | Path) -> str | None:
    """The kernel id in a connection file name as Jupyter names them (``kernel-<id>.json``)."""
    name = Path(connection_file).name
    if name.startswith("kernel-") and name.endswith(".json"):
        return name[len("kernel-"):-len(".json")] or None
    return None


# -- a notebook's sandbox state on disk ---------------------------------------------------------
# Named snapshots (``%snapshot``) and a checkpoint waiting to be restored by the next kernel
# started for the notebook sit under Jupyter's data directory, so they stay with the user
# (their home volume on JupyterHub). The server writes a pending restore; the kernel reads it.
def state_root() -> Path:
    # jupyter_core is loaded by both processes anyway; imported here so this module stays
    # importable with the standard library alone.
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "sandbox"


def notebook_key(notebook_os_path: str | os.PathLike[str]) -> str:
    """A short stable key for a notebook's real location on the host (symlinks resolved), so
    the server (root folder + relative path) and the kernel (its working directory) agree,
    and two projects with a notebook of the same relative name never share state."""
    real = os.path.realpath(notebook_os_path)
    return hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def kernel_notebook_path() -> str:
    """The notebook of this kernel process: its folder is the kernel's working directory
    (jupyter_server starts kernels there) and ``JPY_SESSION_NAME`` ends with its name."""
    session = os.environ.get(SESSION_NAME_ENV) or "untitled"
    return os.path.join(os.getcwd(), os.path.basename(session))


def named_snapshot_folder(notebook_os_path: str) -> Path:
    return state_root() / "snapshots" / notebook_key(notebook_os_path)


def pending_restore_path(notebook_os_path: str) -> Path:
    """A snapshot the next kernel for this notebook starts from (then removes)."""
    return state_root() / "pending" / f"{notebook_key(notebook_os_path)}{SNAPSHOT_SUFFIX}"
