"""The message protocol between the host and the guest shim, over ``_host.call``.

Every host operation is one *turn* whose source is the constant :data:`DISPATCH_SOURCE`. The shim
then asks the host for the operation (``{"op": "request"}`` → the request object), performs it,
and ends with ``{"op": "reply", "content": {...}}``. While working it may send:

* ``{"op": "message", "msg_type": ..., "content": {...}, "metadata": {...}}`` — Jupyter-shaped
  output: ``stream``, ``display_data``, ``update_display_data``, ``clear_output``,
  ``execute_result``, ``error``, ``comm_open``, ``comm_msg``, ``comm_close``. Reply ``{}``.
  Contents are the Jupyter protocol's; bytes in a display bundle (``_repr_png_``) arrive as
  base64 text, as jupyter_client sends them. A comm message's content is ``comm_id``, ``data``
  (plus ``target_name``/``target_module`` for ``comm_open``) and, only when the comm sent
  binary buffers, ``buffers``: a list of base64 strings, which the kernel layer removes from
  the content and sends as the message's binary buffers.
  Everything here comes from guest code, which can call ``_host.call`` itself, so the host
  trusts none of it: a request longer than the cell's output cap plus ``MESSAGE_SLACK``
  (``PREVIEW_MESSAGE_BYTES`` for a preview's answer) is refused before it is copied out of
  guest memory; a message is rebuilt by :func:`clean_message` from the fields its type
  defines (``MESSAGE_FIELDS``) or dropped with one notice; then its size as sent counts
  against the cell's output cap, whatever its type (only a preview's ``http.*``/``ws.*``
  answer, which goes to the HTTP client, is not counted).
* ``{"op": "input", "prompt": str, "password": bool}`` → ``{"value": str}`` or
  ``{"error": str}`` (the front end does not allow input; the guest raises
  ``StdinNotImplementedError``).
* ``{"op": "interrupt_reason"}`` → ``{"reason": "interrupt" | "timeout" | "none"}``: asked by
  the guest's SIGINT handler, so the host decides whether a delivered signal raises
  ``KeyboardInterrupt``, ``TimeoutError`` or nothing (a stale interrupt from a finished turn).
* ``{"op": "pip", "action": "install" | "uninstall" | "list", "args": [str], "cwd": str}``
  (``%pip``, see ``packages.py``): the host runs pip while the guest waits, sending pip's
  progress as ``stream`` output, then answers ``{"lines": [str], "site": str}`` (install,
  uninstall), ``{"packages": [{"name", "version", "origin"}], "site": str}`` (list) or
  ``{"error": str}``. ``site`` is the guest folder of installed packages (on ``sys.path``).

* Processes (``runtime/processes/``, guest client ``jupyter_sandbox_guest/processes.py``),
  binary data as base64 text. From any guest (the notebook or a process):
  ``proc_spawn`` (``ProcSpawnCall``: ``argv``, ``cwd``, ``env``, ``stdin``/``stdout``/
  ``stderr`` as ``{"mode": ...}``, ``background``, ``timeout``) → ``{"pid"}``;
  ``proc_read`` (``pid``, ``stream``, ``size``, ``timeout``) → ``{"data", "eof"}``,
  ``{"timeout": true}`` or ``{"interrupted": true}``; ``proc_drain`` (``pid``, ``timeout``)
  → ``{"data": {"stdout"?, "stderr"?}, "done"}``: both pipes at once, as ``communicate``
  needs; ``proc_write`` (``pid``, ``data``);
  ``proc_close_stdin``/``proc_close_output`` (``pid``[, ``stream``]); ``proc_wait`` (``pid``,
  ``timeout``) → ``{"exit_code": int | null, "interrupted"?: true}``; ``proc_kill`` (``pid``,
  ``signal``: 2 interrupts, others kill); ``proc_list`` → ``{"processes": [...]}``. Failures
  are ``ProcErrorAnswer`` (``error``, ``kind``: ``not_found``, ``limit``, ``memory``, ``cwd``,
  ``broken_pipe``, ``invalid``…). A guest drives only the processes it started. From a
  process's own ``process_main`` only: ``process_start`` → ``ProcessStartAnswer`` (what to
  run) and ``process_exit`` (``status``); ``pip`` as above, for ``pip`` run as a program.

* Network calls (``runtime/network/``; only these are not JSON objects, so bytes travel
  unencoded): ``NET_CALL_PREFIX`` + a JSON header (``call`` and its fields, one line) +
  ``\n`` + the payload (``send``'s bytes). The answer is ``NET_DATA_PREFIX`` + the bytes for
  a ``recv`` that got data (nothing after it: the end of the stream), else a JSON object:
  ``NetErrorAnswer`` (``error``, ``kind``, ``errno``: the guest raises the matching
  exception), ``NetWaitAnswer`` (``wait``: ``timeout``, or ``interrupted`` when an interrupt
  or the cell deadline woke the host: the guest calls again and meets the interrupt), or
  the call's own answer. Calls (``NetCall``): ``enabled`` → ``{}`` or the error;
  ``resolve`` (``host``, ``port``, ``timeout``: ignored, a lookup is bounded by the
  policy's ``connect_timeout``) → ``addresses`` ([version, address] pairs the policy
  allows; version 4 or 6, as the guest's socket constants differ from the host's);
  ``connect`` (``host``, ``port``, ``timeout``) → ``conn``, ``address``, ``version``;
  ``send`` (``conn``, ``timeout``) + payload → ``sent``; ``recv`` (``conn``,
  ``size``, ``timeout``); ``poll`` (``read``, ``write``: lists of conn ids; ``timeout``) →
  ``read``, ``write`` (the ready ones); ``shutdown`` (``conn``, ``how``), ``close``
  (``conn``) → ``{}``; ``tls`` (``conn``, ``server_hostname``, ``alpn``, ``timeout``) →
  ``NetTlsAnswer`` once the host's handshake verified the certificate (``network/tls.py``;
  the connection then carries plaintext both ways; errors ``cert`` → the guest's
  ``ssl.SSLCertVerificationError``, ``ssl`` → ``ssl.SSLError``; ``interrupted``: call again
  to resume the handshake). ``timeout`` is seconds or null (wait until interrupted).

Requests (``"type"`` field) and their replies:

* ``execute``: ``code``, ``silent``, ``store_history``, ``user_expressions``, ``allow_stdin``
  → ``status`` (``ok`` / ``error`` / ``aborted``), ``execution_count``, ``user_expressions``,
  ``payload`` (ipykernel's execute_reply payloads: ``{"source": "page", "data", "start"}``
  from ``obj?``, ``{"source": "set_next_input", "text", "replace"}``), and for errors
  ``ename``, ``evalue``, ``traceback``.
* ``complete``: ``code``, ``cursor_pos`` (in code points) → ``matches``, ``cursor_start``,
  ``cursor_end``, ``metadata``.
* ``inspect``: ``code``, ``cursor_pos``, ``detail_level`` → ``found``, ``data``, ``metadata``.
* ``is_complete``: ``code`` → ``status``, ``indent``.
* ``comm``: ``msg_type`` (``comm_open``/``comm_msg``/``comm_close``), ``content`` and
  ``buffers`` (base64) from the front end → ``status`` (``ok``, or ``error`` with ``ename``
  and ``evalue`` for a malformed request). The guest's handlers see the buffers as
  ``memoryview``s in ``msg["buffers"]``, as under ipykernel; what they print or display, and
  the comm messages they send back, arrive as output messages of this request.
* ``comm_info``: ``target_name`` → ``comms``.
* ``history``: parameters of a history_request → ``history``.
* ``http`` (previews, see ``previews.py``): ``port``, ``method``, ``path`` (percent-encoded,
  below the preview prefix), ``query``, ``headers`` ([name, value] pairs), ``body`` (base64),
  ``script_name`` (the public prefix), ``scheme``, ``host``, ``client`` → ``status`` ``ok``, or
  ``error`` with ``code`` (502 nothing served on the port, 500 the app raised, 503
  interrupted), ``message``, ``traceback`` and ``started`` (whether the response had begun).
  The response arrives as messages first: ``http.start`` (``status``, ``headers``), then
  ``http.body`` (``data``, base64) per chunk, as the app produces them.
* ``ws_connect`` (the ``http`` fields plus ``conn``, an id the host chooses, and
  ``subprotocols``), ``ws_receive`` (``conn``, ``text`` or base64 ``bytes``),
  ``ws_disconnect`` (``conn``, ``code``) → ``status``, ``open`` (whether the app still
  listens), or ``code``/``message`` when refused. The ASGI app's own events arrive as
  ``ws.accept`` (``subprotocol``, ``headers``), ``ws.send`` (``text`` or base64 ``bytes``)
  and ``ws.close`` (``code``, ``reason``) messages.
* ``previews_list`` → ``status`` ``ok`` and ``ports``: the ports of the preview apps
  registered in the guest (``jupyter_sandbox.serve``), ascending (``PreviewsListReply``).
* ``preview_stop``: ``port`` → ``status`` ``ok`` and ``stopped`` (whether an app was
  registered there), or ``error`` with ``ename``/``evalue`` for a port that is not one
  (``PreviewStopReply``). The host checks both replies (:func:`preview_ports`,
  :func:`preview_stopped`) and raises ``GuestRequestError`` for an error or a malformed one.

Each message above is also a ``TypedDict`` below (``ExecuteRequest``, ``CompleteReply``,
``InputCall``, ``InputAnswer``...; ``GuestRequest`` and ``GuestCall`` are their unions), which
the host side uses to build and read them. What the guest sends stays ``Unchecked`` until the
checks here have run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict, TypeGuard

from .errors import GuestMessageError, GuestRequestError

#: The source of every dispatch turn (constant, so the guest's linecache never grows).
DISPATCH_SOURCE = "__import__('jupyter_sandbox_guest').dispatch()"
#: What a guest request may hold beyond the cell's output cap (the JSON envelope, one
#: message that takes a cell just past its cap). Larger requests are refused unread.
MESSAGE_SLACK = 1 << 20
#: Preview responses are not counted against a cell's output cap (an app may stream a big
#: download), but each of their messages is still bounded.
PREVIEW_MESSAGE_BYTES = 96 << 20
#: Message types that answer a preview request; they go to the HTTP client, not a notebook.
PREVIEW_MESSAGE_TYPES = frozenset({"http.start", "http.body", "ws.accept", "ws.send", "ws.close"})



# -- the messages as types ----------------------------------------------------------------------
# Host → guest requests and the host's answers to the guest's calls are built by the host: their
# types are exact. What comes from the guest is JSON that guest code may have written itself: the
# host receives it as ``Unchecked`` and checks every field it reads (``clean_message``,
# ``clean_execute_reply``, ``preview_ports``...); the reply types below describe what the shim
# sends, and their readers still check what they use.

#: A JSON object from the guest, not yet checked.
Unchecked = dict[str, Any]


class StopReason(StrEnum):
    """Why the operation in progress is being stopped (the answer to ``interrupt_reason``)."""

    NONE = "none"
    INTERRUPT = "interrupt"
    TIMEOUT = "timeout"


class Message(TypedDict):
    """A Jupyter-shaped output message, as ``clean_message`` rebuilds it (or the host makes its
    own: notices, ``%pip`` progress, raw fd 1/2 writes)."""

    msg_type: str
    content: dict[str, Any]
    metadata: dict[str, Any]


# Requests: what the shim's ``{"op": "request"}`` call returns, one per operation.
class ExecuteRequest(TypedDict):
    type: Literal["execute"]
    code: str
    silent: bool
    store_history: bool
    user_expressions: dict[str, str]
    allow_stdin: bool


class CompleteRequest(TypedDict):
    type: Literal["complete"]
    code: str
    #: In code points (the kernel converts from the front end's UTF-16 units).
    cursor_pos: int


class InspectRequest(TypedDict):
    type: Literal["inspect"]
    code: str
    cursor_pos: int
    detail_level: int


class IsCompleteRequest(TypedDict):
    type: Literal["is_complete"]
    code: str


class HistoryQuery(TypedDict):
    """The parameters of a Jupyter history_request."""

    hist_access_type: str
    output: bool
    raw: bool
    session: int | None
    start: int | None
    stop: int | None
    n: int | None
    pattern: str | None
    unique: bool


class HistoryRequest(HistoryQuery):
    type: Literal["history"]


class CommRequest(TypedDict):
    type: Literal["comm"]
    msg_type: str
    content: dict[str, Any]
    #: The front end's binary buffers, base64.
    buffers: list[str]


class CommInfoRequest(TypedDict):
    type: Literal["comm_info"]
    target_name: str | None


class StartRequest(TypedDict):
    """``boot`` (a fresh interpreter) or ``configure`` (one restored from the base image)."""

    type: Literal["boot", "configure"]
    env: dict[str, str]
    cwd: str
    execution_count: int


class AfterRestoreRequest(TypedDict):
    type: Literal["after_restore"]
    env: dict[str, str]


class PreviewsListRequest(TypedDict):
    type: Literal["previews_list"]


class PreviewStopRequest(TypedDict):
    type: Literal["preview_stop"]
    port: int


class PreviewHttpRequest(TypedDict):
    """``http``, or ``ws_connect`` with ``conn``: one request for a preview app."""

    type: Literal["http", "ws_connect"]
    port: int
    method: str
    path: str
    query: str
    headers: list[list[str]]
    body: str
    script_name: str
    scheme: str
    host: str
    client: list[str | int]
    subprotocols: list[str]
    conn: NotRequired[str]


class WsReceiveRequest(TypedDict):
    type: Literal["ws_receive"]
    conn: str
    port: int
    text: NotRequired[str]
    bytes: NotRequired[str]


class WsDisconnectRequest(TypedDict):
    type: Literal["ws_disconnect"]
    conn: str
    port: int
    code: int


PreviewRequest = PreviewHttpRequest | WsReceiveRequest | WsDisconnectRequest
GuestRequest = (ExecuteRequest | CompleteRequest | InspectRequest | IsCompleteRequest
                | HistoryRequest | CommRequest | CommInfoRequest | StartRequest
                | AfterRestoreRequest | PreviewsListRequest | PreviewStopRequest | PreviewRequest)


# Replies: the ``content`` of the shim's ``{"op": "reply"}``.
class ExecuteReplyContent(TypedDict):
    """An execute reply as ``clean_execute_reply`` rebuilds it (checked)."""

    status: Literal["ok", "error", "aborted"]
    execution_count: int
    user_expressions: dict[str, Any]
    payload: list[dict[str, Any]]
    ename: str
    evalue: str
    traceback: list[str]


class CompleteReply(TypedDict, total=False):
    status: str
    matches: list[str]
    cursor_start: int
    cursor_end: int
    metadata: dict[str, Any]


class InspectReply(TypedDict, total=False):
    status: str
    found: bool
    data: dict[str, Any]
    metadata: dict[str, Any]


class IsCompleteReply(TypedDict, total=False):
    status: str
    indent: str


class HistoryReply(TypedDict, total=False):
    status: str
    history: list[list[Any]]


class CommReply(TypedDict, total=False):
    status: str
    ename: str
    evalue: str


class CommInfoReply(TypedDict, total=False):
    status: str
    comms: dict[str, dict[str, str]]


class PreviewReply(TypedDict, total=False):
    """The reply to ``http`` and ``ws_*`` requests (see the catalogue above)."""

    status: str
    code: int
    message: str
    traceback: str
    started: bool
    open: bool


# Calls the guest makes (``op``) and the host's answers. The calls arrive ``Unchecked``; these
# types say what the shim sends.
class MessageCall(TypedDict):
    op: Literal["message"]
    msg_type: str
    content: dict[str, Any]
    metadata: dict[str, Any]


class ReplyCall(TypedDict):
    op: Literal["reply"]
    content: dict[str, Any]


class InputCall(TypedDict):
    op: Literal["input"]
    prompt: str
    password: bool


class PipCall(TypedDict):
    op: Literal["pip"]
    action: Literal["install", "uninstall", "list"]
    args: list[str]
    cwd: str


class SnapshotCall(TypedDict):
    op: Literal["snapshot"]
    action: Literal["save", "restore", "list", "delete"]
    name: str


class SimpleCall(TypedDict):
    """``request``, ``interrupt_reason`` and ``status``: no fields."""

    op: Literal["request", "interrupt_reason", "status"]


GuestCall = MessageCall | ReplyCall | InputCall | PipCall | SnapshotCall | SimpleCall


class ErrorAnswer(TypedDict):
    """The host refused or failed a call; the guest raises with this text."""

    error: str


class InputAnswer(TypedDict, total=False):
    """``value`` (the line typed), ``error`` (no input possible) or ``interrupted``."""

    value: str
    error: str
    interrupted: bool


class InterruptReasonAnswer(TypedDict):
    reason: StopReason


class PipAnswer(TypedDict, total=False):
    """``lines`` (install, uninstall) or ``packages`` (list), with ``site``; or ``error``."""

    lines: list[str]
    packages: list[dict[str, str]]
    site: str
    error: str


class SnapshotAnswer(TypedDict, total=False):
    """``snapshots`` (list), ``done`` (delete), ``scheduled`` (save, restore) or ``error``."""

    snapshots: list[dict[str, object]]
    done: str
    scheduled: bool
    error: str


# Network calls (see the catalogue): the JSON header after ``NET_CALL_PREFIX``.
#: The first byte of a network call (a JSON request starts with ``{``).
NET_CALL_PREFIX = b"N"
#: The first byte of a ``recv`` answer that carries bytes (other answers are JSON objects).
NET_DATA_PREFIX = b"D"


class NetEnabledCall(TypedDict):
    call: Literal["enabled"]


class NetResolveCall(TypedDict):
    call: Literal["resolve"]
    host: str
    port: int
    timeout: float | None


class NetConnectCall(TypedDict):
    call: Literal["connect"]
    host: str
    port: int
    timeout: float | None


class NetSendCall(TypedDict):
    """Followed by the bytes to send (after the header's newline)."""

    call: Literal["send"]
    conn: int
    timeout: float | None


class NetRecvCall(TypedDict):
    call: Literal["recv"]
    conn: int
    size: int
    timeout: float | None


class NetPollCall(TypedDict):
    call: Literal["poll"]
    read: list[int]
    write: list[int]
    timeout: float | None


class NetShutdownCall(TypedDict):
    call: Literal["shutdown"]
    conn: int
    #: ``socket.SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``.
    how: int


class NetCloseCall(TypedDict):
    call: Literal["close"]
    conn: int


class NetTlsCall(TypedDict):
    """Upgrade a connection to TLS, done by the host (the guest has no ``_ssl`` and no keys)."""

    call: Literal["tls"]
    conn: int
    #: SNI and the name the certificate must be valid for; null: the address connected to.
    server_hostname: str | None
    #: ALPN protocols to offer (``SSLContext.set_alpn_protocols``), or null.
    alpn: list[str] | None
    timeout: float | None


NetCall = (NetEnabledCall | NetResolveCall | NetConnectCall | NetSendCall | NetRecvCall
           | NetPollCall | NetShutdownCall | NetCloseCall | NetTlsCall)


class NetErrorAnswer(TypedDict):
    """``kind``: ``disabled``/``refused`` (PermissionError), ``limit`` (the policy's connection
    or byte limit), ``lost`` (ConnectionResetError: not kept across a snapshot restore),
    ``gaierror``, ``timeout``, ``value`` (a malformed call), ``os`` (OSError with ``errno``),
    ``cert`` (ssl.SSLCertVerificationError; ``errno`` is OpenSSL's verify code), ``ssl``
    (ssl.SSLError)."""

    error: str
    kind: str
    errno: int | None


class NetWaitAnswer(TypedDict):
    wait: Literal["timeout", "interrupted"]


class NetResolveAnswer(TypedDict):
    #: [IP version (4 or 6), address text] pairs.
    addresses: list[tuple[int, str]]


class NetConnectAnswer(TypedDict):
    conn: int
    address: str
    #: 4 or 6.
    version: int


class NetSendAnswer(TypedDict):
    sent: int


class NetPollAnswer(TypedDict):
    read: list[int]
    write: list[int]


class NetTlsAnswer(TypedDict):
    """The verified session's public facts (``SSLSocket.version()``, ``cipher()``,
    ``selected_alpn_protocol()``, ``getpeercert()`` and its DER, base64)."""

    version: str | None
    cipher: list[str | int] | None
    alpn: str | None
    #: The host name (or address) the certificate was verified for.
    peer: str
    cert: dict[str, Any]
    der: str


# -- processes (runtime/processes/guest_ops.py, child_calls.py) -------------------------------
class ProcStreamSpec(TypedDict, total=False):
    #: stdin: "pipe" | "null" | "data"; stdout/stderr: "pipe" | "inherit" | "null" | "file",
    #: and for stderr also "stdout" (``stderr=STDOUT``).
    mode: str
    #: ``mode: "data"``: the whole input, base64.
    data: str
    #: ``mode: "file"``: the guest path written to, and whether at its end.
    path: str
    append: bool


class ProcSpawnCall(TypedDict):
    op: Literal["proc_spawn"]
    argv: list[str]
    cwd: str
    env: dict[str, str] | None
    stdin: ProcStreamSpec
    stdout: ProcStreamSpec
    stderr: ProcStreamSpec
    background: bool
    timeout: float | None


class ProcSpawnAnswer(TypedDict):
    pid: int


class ProcReadCall(TypedDict):
    op: Literal["proc_read"]
    pid: int
    stream: Literal["stdout", "stderr"]
    size: int
    timeout: float | None


class ProcReadAnswer(TypedDict, total=False):
    data: str
    eof: bool
    timeout: bool
    interrupted: bool


class ProcDrainCall(TypedDict):
    op: Literal["proc_drain"]
    pid: int
    timeout: float | None


class ProcDrainAnswer(TypedDict, total=False):
    #: What each output pipe held (base64), by stream name; only those with data.
    data: dict[str, str]
    #: Every output pipe has ended and is empty.
    done: bool
    interrupted: bool


class ProcWriteCall(TypedDict):
    op: Literal["proc_write"]
    pid: int
    data: str


class ProcWaitCall(TypedDict):
    op: Literal["proc_wait"]
    pid: int
    timeout: float | None


class ProcWaitAnswer(TypedDict, total=False):
    exit_code: int | None
    interrupted: bool


class ProcKillCall(TypedDict):
    op: Literal["proc_kill"]
    pid: int
    signal: int


class ProcLogCall(TypedDict):
    """``%sandbox logs PID``: the log of a process this guest started (also what it wrote
    while no cell ran, see ``processes/cell_output.py``), at most ``max_bytes`` from its
    end."""

    op: Literal["proc_log"]
    pid: int
    max_bytes: int


class ProcLogAnswer(TypedDict):
    #: ``[stream, base64 data]`` in order.
    chunks: list[list[str]]
    #: Bytes left out from the start (more than ``max_bytes``).
    skipped: int
    state: str
    exit_code: int | None


class ProcErrorAnswer(TypedDict):
    error: str
    kind: str


class ProcessStartAnswer(TypedDict):
    """What a process runs: ``kind`` is ``python``, ``pip`` or ``command``."""

    kind: str
    argv: list[str]
    env: dict[str, str]
    cwd: str


class ProcessExitCall(TypedDict):
    op: Literal["process_exit"]
    status: int


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _no_constant(_name: str) -> None:
    """NaN and Infinity are not JSON; front ends reject them. They arrive as null."""
    return None


def decode(data: bytes) -> Any:
    """Parse guest JSON; invalid UTF-8 is replaced rather than allowed to break the host.
    The caller bounds ``len(data)`` first (``GuestInstance`` refuses longer requests)."""
    return json.loads(data.decode("utf-8", "replace"), parse_constant=_no_constant)


# -- the shape of each message the guest may send ---------------------------------------------
def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str)


def _optional_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_integer(value: object) -> bool:
    return value is None or _integer(value)


def _mapping(value: object) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict)


def _flag(value: object) -> bool:
    return isinstance(value, bool)


def _texts(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _pairs(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)
        for item in value)


def _stream_name(value: object) -> bool:
    return value in ("stdout", "stderr")


def _status_code(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 999


@dataclass(frozen=True)
class _Field:
    check: Callable[[object], bool]
    required: bool = True


_REQUIRED_TEXT, _OPTIONAL_TEXT = _Field(_text), _Field(_optional_text, required=False)
_DATA, _OPTIONAL_DATA = _Field(_mapping), _Field(_mapping, required=False)
_BUFFERS = _Field(_texts, required=False)

#: Per message type: its fields. Fields not listed are dropped; a listed field of the wrong
#: type, or a required one missing, drops the whole message.
MESSAGE_FIELDS: dict[str, dict[str, _Field]] = {
    "stream": {"name": _Field(_stream_name), "text": _REQUIRED_TEXT},
    "display_data": {"data": _DATA, "metadata": _OPTIONAL_DATA, "transient": _OPTIONAL_DATA},
    "update_display_data": {"data": _DATA, "metadata": _OPTIONAL_DATA, "transient": _DATA},
    "execute_result": {"execution_count": _Field(_integer), "data": _DATA,
                       "metadata": _OPTIONAL_DATA},
    "error": {"ename": _REQUIRED_TEXT, "evalue": _REQUIRED_TEXT, "traceback": _Field(_texts)},
    "clear_output": {"wait": _Field(_flag)},
    "comm_open": {"comm_id": _REQUIRED_TEXT, "target_name": _REQUIRED_TEXT,
                  "target_module": _OPTIONAL_TEXT, "data": _DATA, "buffers": _BUFFERS},
    "comm_msg": {"comm_id": _REQUIRED_TEXT, "data": _DATA, "buffers": _BUFFERS},
    "comm_close": {"comm_id": _REQUIRED_TEXT, "data": _OPTIONAL_DATA, "buffers": _BUFFERS},
    "http.start": {"status": _Field(_status_code), "headers": _Field(_pairs)},
    "http.body": {"data": _REQUIRED_TEXT},
    "ws.accept": {"subprotocol": _OPTIONAL_TEXT, "headers": _Field(_pairs, required=False)},
    "ws.send": {"text": _OPTIONAL_TEXT, "bytes": _OPTIONAL_TEXT},
    "ws.close": {"code": _Field(_optional_integer, required=False), "reason": _OPTIONAL_TEXT},
}
#: Defaults the protocol gives to optional fields that Jupyter front ends expect present.
_DEFAULTS: dict[str, dict[str, Callable[[], Any]]] = {
    "display_data": {"metadata": dict, "transient": dict},
    "update_display_data": {"metadata": dict},
    "execute_result": {"metadata": dict},
    "comm_close": {"data": dict},
}


def clean_message(msg_type: object, content: object, metadata: object) -> Message:
    """The Jupyter-shaped message ``{"msg_type", "content", "metadata"}`` built from what the
    guest sent, with only the fields its type defines. Raises ``GuestMessageError`` when the
    type is unknown, ``content`` or ``metadata`` is not an object, or a field is wrong."""
    if not isinstance(msg_type, str) or msg_type not in MESSAGE_FIELDS:
        raise GuestMessageError(msg_type, "unknown message type")
    if not isinstance(content, dict):
        raise GuestMessageError(msg_type, f"its content is a {type(content).__name__}, "
                                          "not an object")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise GuestMessageError(msg_type, "its metadata is not an object")
    fields = MESSAGE_FIELDS[msg_type]
    clean: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in content:
            if spec.required:
                raise GuestMessageError(msg_type, f"the field {name!r} is missing")
            continue
        value = content[name]
        if not spec.check(value):
            raise GuestMessageError(msg_type, f"the field {name!r} has the wrong type")
        clean[name] = value
    for name, make in _DEFAULTS.get(msg_type, {}).items():
        clean.setdefault(name, make())
    display_id = clean["transient"].get("display_id") if msg_type == "update_display_data" else ""
    if not isinstance(display_id, str):
        raise GuestMessageError(msg_type, "transient.display_id is missing")
    if msg_type == "ws.send" and (clean.get("text") is None) == (clean.get("bytes") is None):
        raise GuestMessageError(msg_type, "it needs exactly one of 'text' and 'bytes'")
    return {"msg_type": msg_type, "content": clean, "metadata": metadata}


_REPLY_STATUSES = ("ok", "error", "aborted")


def _reply_status(value: object) -> TypeGuard[Literal["ok", "error", "aborted"]]:
    return value in _REPLY_STATUSES


def clean_execute_reply(reply: Unchecked, execution_count: int) -> ExecuteReplyContent:
    """An execute reply's fields with the types the Jupyter protocol gives them, whatever the
    guest sent (its reply reaches the front end as the shell channel's execute_reply)."""
    status, count, payload = reply.get("status"), reply.get("execution_count"), reply.get("payload")
    expressions, ename = reply.get("user_expressions"), reply.get("ename")
    evalue, traceback = reply.get("evalue"), reply.get("traceback")
    clean: ExecuteReplyContent = {
        "status": status if _reply_status(status) else "error",
        "execution_count": count if _integer(count) and count >= 0 else execution_count,
        "user_expressions": expressions if _mapping(expressions) else {},
        "payload": [p for p in payload if isinstance(p, dict)] if isinstance(payload, list) else [],
        "ename": ename if _text(ename) else "",
        "evalue": evalue if _text(evalue) else "",
        "traceback": traceback if _texts(traceback) else [],
    }
    if clean["status"] == "error" and not clean["ename"] and not _reply_status(status):
        clean["ename"], clean["evalue"] = "SandboxError", "the sandbox sent a malformed reply"
    return clean


# -- replies to the preview bookkeeping requests --------------------------------------------
class PreviewsListReply(TypedDict):
    """The guest's answer to ``{"type": "previews_list"}``."""

    status: str
    ports: list[int]


class PreviewStopReply(TypedDict, total=False):
    """The guest's answer to ``{"type": "preview_stop", "port": int}``."""

    status: str
    stopped: bool
    ename: str
    evalue: str


def _port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _refused(request_type: str, reply: Unchecked) -> GuestRequestError:
    if reply.get("status") == "error":
        ename = reply.get("ename") if _text(reply.get("ename")) else "Error"
        evalue = reply.get("evalue") if _text(reply.get("evalue")) else ""
        return GuestRequestError(request_type, f"{ename}: {evalue}"[:1000])
    return GuestRequestError(request_type, "its reply is malformed")


def preview_ports(reply: Unchecked) -> list[int]:
    """The ports in a ``previews_list`` reply (``GuestRequestError`` when it is not one)."""
    ports = reply.get("ports")
    if reply.get("status") != "ok" or not isinstance(ports, list) or \
            not all(_port(port) for port in ports):
        raise _refused("previews_list", reply)
    return sorted(set(ports))


def preview_stopped(reply: Unchecked) -> bool:
    """Whether a ``preview_stop`` reply says an app was stopped (``GuestRequestError`` for an
    error reply or a malformed one)."""
    stopped = reply.get("stopped")
    if reply.get("status") != "ok" or not isinstance(stopped, bool):
        raise _refused("preview_stop", reply)
    return stopped
