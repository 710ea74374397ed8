"""``SandboxKernel``: a Jupyter kernel (ipykernel's ``Kernel`` base) that owns one sandbox.

ipykernel speaks the protocol (channels, status, ordering, aborting queued cells after an error);
this class turns each request into a call on the sandbox. Cells run on the sandbox's guest
thread, so the kernel's event loop stays free for control messages (interrupt, kernel_info,
shutdown) while a cell runs. Output produced by the guest is published on IOPub as it arrives,
with the parent header of the request that caused it.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import concurrent.futures
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq
from ipykernel.kernelbase import Kernel
from IPython.core.error import StdinNotImplementedError
from traitlets import Bool, Dict, Float, Int, List, Unicode
from traitlets import Enum as TraitEnum

from jupyter_sandbox import __version__
from jupyter_sandbox.runtime.config import HostFolderMode, Limits, PackagePolicy, SandboxConfig
from jupyter_sandbox.runtime.errors import SandboxError

from . import notebook_state
from .control_protocol import AWAIT_FOLDER_ENV, START_SNAPSHOT_ENV
from .positions import code_points_to_utf16, utf16_to_code_points

if TYPE_CHECKING:  # the sandbox and the control endpoint load on the sandbox-start thread
    from jupyter_sandbox.runtime.network.policy import NetworkPolicy
    from jupyter_sandbox.runtime.previews import PreviewLimits
    from jupyter_sandbox.runtime.protocol import HistoryQuery
    from jupyter_sandbox.runtime.sandbox import ExecuteReply, Message, Sandbox
    from jupyter_sandbox.runtime.snapshot import Bounds

    from .control_endpoint import ControlEndpoint

MiB = 1 << 20
_OUTPUT = {"stream", "display_data", "update_display_data", "execute_result", "error",
           "clear_output"}
_COMM = {"comm_open", "comm_msg", "comm_close"}


class _StartSnapshotUnreadable(SandboxError):
    """The snapshot file to start from cannot be read (the kernel then starts clean)."""

    def __init__(self, source: str, why: str) -> None:
        super().__init__(why)
        self.source = source


class SandboxKernel(Kernel):
    """Runs every cell inside a WebAssembly sandbox; see the package README for the limits."""

    implementation = "jupyter-sandbox"
    implementation_version = __version__
    language = "python"
    language_version = "3.15"
    language_info = {
        "name": "python",
        "version": "3.15.0",
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "nbconvert_exporter": "python",
    }
    help_links = [
        {"text": "Python Reference", "url": "https://docs.python.org/3.15"},
        {"text": "IPython Reference", "url": "https://ipython.readthedocs.io/en/stable/"},
    ]

    memory_limit_mib = Int(2048, help="Memory the sandbox's interpreter may use, in MiB."
                           ).tag(config=True)
    cell_timeout = Float(0.0, help="Time limit per cell in seconds (0: none). The cell first gets "
                         "a TimeoutError; if it does not stop, the interpreter is restarted."
                         ).tag(config=True)
    timeout_grace = Float(3.0, help="Seconds a timed-out cell has to stop before a hard stop."
                          ).tag(config=True)
    output_limit_mib = Float(8.0, help="Output per cell in MiB; beyond it output is dropped "
                             "with one notice.").tag(config=True)
    workspace_quota_mib = Int(1024, help="Bytes the sandbox may write (to /workspace and /tmp), "
                              "in MiB.").tag(config=True)
    workspace_max_files = Int(20_000, help="Files and folders the sandbox may create."
                              ).tag(config=True)
    host_folder_mode = TraitEnum(
        [m.value for m in HostFolderMode], default_value=HostFolderMode.OVERLAY.value,
        help="How the notebook's folder appears at /workspace: 'off' (not at all), 'readonly' "
             "(visible, host files cannot change), 'overlay' (visible, changes stay private).",
    ).tag(config=True)
    host_folder = Unicode("", help="The host folder shown at /workspace; default: the kernel's "
                          "working directory (the notebook's folder).").tag(config=True)
    snapshot_dir = Unicode("", help="Folder for %snapshot's named snapshots; default: one per "
                           "notebook under Jupyter's data dir (sandbox/snapshots)."
                           ).tag(config=True)
    start_from_snapshot = Unicode("", help="Start the sandbox from this snapshot file instead "
                                  f"of a fresh interpreter (also ${START_SNAPSHOT_ENV}). A file "
                                  "that cannot be used is reported in the first cell's output "
                                  "and the sandbox starts clean.").tag(config=True)
    snapshot_max_count = Int(20, help="Named snapshots (%snapshot save) a sandbox may keep; "
                             "saving more is refused until one is deleted.").tag(config=True)
    max_processes = Int(8, help="Processes (subprocess, !python, the commands API) a sandbox "
                        "may run at once; more fail to start with a clear error."
                        ).tag(config=True)
    snapshot_max_mib = Int(1024, help="Total size of a sandbox's named snapshots on disk, in "
                           "MiB; a save past it is refused.").tag(config=True)
    snapshot_key_file = Unicode("", help="The secret (32 bytes, mode 0600, created on first "
                                "use) that signs this kernel's snapshots and checkpoints and "
                                "checks those it restores; default: sandbox/snapshot.key in "
                                "Jupyter's data dir.").tag(config=True)
    preview_busy_timeout = Float(10.0, help="Seconds a preview request waits for a running cell "
                                 "before it is answered 503 (sandbox busy).").tag(config=True)
    preview_request_timeout = Float(30.0, help="Seconds a preview app may take to answer one "
                                    "request; then it gets a TimeoutError and the client 504."
                                    ).tag(config=True)
    preview_max_body_mib = Float(64.0, help="Largest request body sent to a preview app, in "
                                 "MiB; larger requests get 413.").tag(config=True)
    pip_enabled = Bool(True, help="Allow %pip install/uninstall of pure-Python packages (the "
                       "host downloads them; the guest never gets a network).").tag(config=True)
    pip_index_url = Unicode("", help="The package index %pip uses; default: pip's own "
                            "configuration on the host (pip.conf, PIP_INDEX_URL).").tag(config=True)
    pip_allow = List(Unicode(), help="If not empty, the only packages %pip may install "
                     "(dependencies included).").tag(config=True)
    pip_deny = List(Unicode(), help="Packages %pip may never install, neither asked for nor as "
                    "a dependency.").tag(config=True)
    pip_user_indexes = Bool(None, allow_none=True, help="May notebook code choose where the "
                            "host downloads packages from (-i, --extra-index-url, -f URL, "
                            "NAME @ URL)? None (default): only when neither pip_index_url nor "
                            "pip_allow is set; True/False: always/never.").tag(config=True)
    network = Bool(False, help="Let the sandbox open network connections through the host's "
                   "broker (off by default). Loopback, private, link-local, metadata and other "
                   "special addresses stay refused unless network_allow names the address."
                   ).tag(config=True)
    network_allow = List(Unicode(), help="If not empty, the only destinations the sandbox may "
                         "connect to: host names ('api.example.com', '*.example.com'), addresses "
                         "and CIDRs ('10.0.0.0/8', '[::1]'), each with an optional port "
                         "('pypi.org:443'). Empty: every public address.").tag(config=True)
    network_deny = List(Unicode(), help="Destinations the sandbox may never connect to (same "
                        "rules as network_allow); deny wins over allow.").tag(config=True)
    network_max_connections = Int(64, help="Connections a sandbox may have open at once."
                                  ).tag(config=True)
    network_max_mib_per_cell = Int(1024, help="Network traffic (both ways) one cell may cause, "
                                   "in MiB.").tag(config=True)
    network_max_mib_per_sandbox = Int(8192, help="Network traffic (both ways) over the "
                                      "sandbox's life, in MiB.").tag(config=True)
    network_connect_timeout = Float(30.0, help="Seconds a connection may take to open."
                                    ).tag(config=True)
    network_ca_bundle = Unicode("", help="An extra PEM file of CA certificates the host trusts "
                                "when it verifies TLS for the sandbox (besides the system's)."
                                ).tag(config=True)
    network_inject_headers = Dict(
        key_trait=Unicode(), value_trait=Dict(key_trait=Unicode(), value_trait=Unicode()),
        help="Headers the host adds to the sandbox's HTTP requests, by host rule: "
             "{'api.example.com': {'Authorization': 'Bearer …'}}. The guest never sees them.",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for msg_type in ("comm_open", "comm_msg", "comm_close"):
            self.shell_handlers[msg_type] = self._comm_from_front_end
        self._interrupted = threading.Event()
        #: The delivery of the last comm message from the front end (see _comm_from_front_end).
        self._comm_deliveries: asyncio.Future[None] | None = None
        #: Said in the first cell's output: why the start snapshot was not used.
        self._start_notice = ""
        self._sandbox_ready: concurrent.futures.Future[Sandbox] = concurrent.futures.Future()
        threading.Thread(target=self._create_sandbox, name="sandbox-start", daemon=True).start()

    def _create_sandbox(self) -> None:
        """Start the sandbox (on its own thread, while ipykernel brings its channels up), then
        the control endpoint that serves it to the server extension."""
        from jupyter_sandbox.runtime.sandbox import Sandbox
        from jupyter_sandbox.runtime.snapshot import SnapshotError

        from . import network_log

        network_log.attach(self.log)  # every connection attempt in the kernel's log

        try:
            config = self._sandbox_config()
            sandbox: Sandbox | None = None
            failure: BaseException | None = None
            try:
                snapshot, source = self._start_snapshot()
            except _StartSnapshotUnreadable as exc:
                snapshot, source, failure = None, exc.source, exc
            if snapshot is not None:
                try:
                    sandbox = Sandbox(config, snapshot=snapshot)
                except SnapshotError as exc:
                    failure = exc
            if failure is not None:
                # a bad start snapshot costs its state, never the kernel: start clean, say so
                self.log.error("the snapshot to start from (%s) cannot be used: %s; the "
                               "sandbox starts clean", source, failure)
                self._start_notice = (
                    f"[jupyter-sandbox] The snapshot this kernel was to start from ({source}) "
                    f"could not be used, so the sandbox started clean (no variables; files "
                    f"from the snapshot are not restored): {failure}\n")
            self._sandbox_ready.set_result(sandbox or Sandbox(config))
            self.start_control_endpoint()
        except BaseException as exc:  # noqa: BLE001 - reported by every request that needs it
            self.log.error("the sandbox failed to start: %s", exc)
            self._sandbox_ready.set_exception(exc)

    @property
    def sandbox(self) -> Sandbox:
        """The kernel's sandbox, for threads that may block (the sandbox-start thread, the
        control endpoint) or once it is known to be ready. Handlers on ipykernel's event loop
        ``await self.ready_sandbox()`` instead, so a slow start never blocks the loop."""
        return self._sandbox_ready.result()

    async def ready_sandbox(self) -> Sandbox:
        """The kernel's sandbox, awaited: it starts in the background while ipykernel sets up
        its channels, so only a request that comes before it is ready waits for it (without
        blocking the event loop). Raises what the start raised."""
        return await asyncio.wrap_future(self._sandbox_ready)

    # -- configuration ----------------------------------------------------------------------
    def limits(self) -> Limits:
        return Limits(
            memory_bytes=self.memory_limit_mib * MiB,
            output_bytes=int(self.output_limit_mib * MiB),
            cell_timeout=self.cell_timeout or None,
            timeout_grace=self.timeout_grace,
            workspace_bytes=self.workspace_quota_mib * MiB,
            workspace_files=self.workspace_max_files,
            snapshot_max_count=self.snapshot_max_count,
            snapshot_max_bytes=self.snapshot_max_mib * MiB,
            max_processes=self.max_processes,
        )

    def _sandbox_config(self) -> SandboxConfig:
        from . import control_previews

        mode = HostFolderMode(self.host_folder_mode)
        folder = Path(self.host_folder or os.getcwd()) if mode is not HostFolderMode.OFF else None
        if self.awaits_folder() and not self.host_folder:
            folder = None  # pre-started: the notebook's folder comes at POST /handover
        return SandboxConfig(limits=self.limits(), host_folder=folder, host_folder_mode=mode,
                             snapshot_dir=self.named_snapshot_folder(),
                             snapshot_key_file=self.snapshot_key_path(),
                             packages=PackagePolicy(enabled=self.pip_enabled,
                                                    index_url=self.pip_index_url or None,
                                                    allow=tuple(self.pip_allow),
                                                    deny=tuple(self.pip_deny),
                                                    user_indexes=self.pip_user_indexes),
                             network=self.network_policy(),
                             env=control_previews.preview_environment(self._connection_file()))

    def network_policy(self) -> NetworkPolicy:
        """The administrator's network policy from the ``network*`` traits (also the ceiling of
        what ``PUT /network`` may set). Raises NetworkConfigError naming the bad trait."""
        from .network_config import policy_from_traits

        return policy_from_traits(self)

    # -- previews and the control endpoint ----------------------------------------------
    control_endpoint: ControlEndpoint | None = None

    def _connection_file(self) -> str:
        """The connection file of this kernel's app (empty when started without one)."""
        return str(getattr(self.parent, "abs_connection_file", "") or "")

    def preview_limits(self) -> PreviewLimits:
        from jupyter_sandbox.runtime.previews import PreviewLimits

        return PreviewLimits(busy_timeout=self.preview_busy_timeout,
                             request_timeout=self.preview_request_timeout,
                             max_body_bytes=int(self.preview_max_body_mib * MiB))

    def start_control_endpoint(self) -> None:
        """Serve the control socket beside the connection file (for the server extension)."""
        connection_file = self._connection_file()
        if not connection_file:
            return
        from .control_endpoint import ControlEndpoint, ControlEndpointError

        try:
            endpoint = ControlEndpoint.for_connection_file(
                self.sandbox, connection_file, self.preview_limits(), self.log)
            endpoint.start()
            atexit.register(endpoint.stop)
        except ControlEndpointError:
            self.log.exception("previews and the control endpoint are off for this kernel")
            return
        self.control_endpoint = endpoint

    @staticmethod
    def awaits_folder() -> bool:
        """Whether this kernel was pre-started for a notebook not known yet (``AWAIT_FOLDER_ENV``,
        set by the server extension's ``PooledKernelManager``): it starts without a host
        folder and gets the notebook's at ``POST /handover`` (kernel/workspace_handover.py)."""
        return os.environ.get(AWAIT_FOLDER_ENV) == "1"

    def named_snapshot_folder(self) -> Path:
        """Where ``%snapshot save`` keeps snapshots: per notebook, so they outlive restarts."""
        if self.snapshot_dir:
            return Path(self.snapshot_dir)
        return notebook_state.named_snapshot_folder(notebook_state.kernel_notebook_path())

    def snapshot_key_path(self) -> Path:
        """The key that signs and checks this kernel's snapshots (see ``snapshot_key_file``)."""
        from .snapshot_key import snapshot_key_path

        return Path(self.snapshot_key_file) if self.snapshot_key_file else snapshot_key_path()

    def _start_snapshot(self) -> tuple[bytes | None, str]:
        """A snapshot to start from, and where it came from: the configured one, else a
        notebook checkpoint that was restored while no kernel ran (consumed: the next restart
        starts fresh). Raises ``_StartSnapshotUnreadable`` (the kernel then starts clean)."""
        from jupyter_sandbox.runtime.snapshot import SnapshotError, read_file

        bounds = self._snapshot_bounds()
        path = self.start_from_snapshot or os.environ.get(START_SNAPSHOT_ENV, "")
        if path:
            try:
                return read_file(Path(path), bounds), path
            except (OSError, SnapshotError) as exc:
                raise _StartSnapshotUnreadable(path, f"cannot read it ({exc}); fix or unset "
                                                     f"{START_SNAPSHOT_ENV}") from exc
        if self.awaits_folder():
            return None, ""  # no notebook yet (the pool hands none to one with a checkpoint)
        pending = notebook_state.pending_restore_path(notebook_state.kernel_notebook_path())
        source = f"the notebook's restored checkpoint, {pending}"
        try:
            data = read_file(pending, bounds)
        except FileNotFoundError:
            return None, ""
        except (OSError, SnapshotError) as exc:
            raise _StartSnapshotUnreadable(source, f"cannot read it ({exc})") from exc
        finally:
            pending.unlink(missing_ok=True)  # consumed, used or not
        self.log.info("starting from the checkpoint restored for this notebook (%s)", pending)
        return data, source

    def _snapshot_bounds(self) -> Bounds:
        """What a start snapshot may hold: this kernel's memory limit and quota."""
        from jupyter_sandbox.runtime.snapshot import Bounds

        limits = self.limits()
        return Bounds.of(limits.memory_bytes, limits.workspace_bytes, limits.workspace_files)

    @property
    def banner(self) -> str:  # type: ignore[override]
        limits = self.limits()
        timeout = f"{limits.cell_timeout:g} s per cell" if limits.cell_timeout else "no time limit"
        network = "no network" if not self.network else "network through the host's policy"
        return (f"Sandboxed Python 3.15 (jupyter-sandbox {__version__}): your code runs inside a "
                f"WebAssembly sandbox with {network}, no host processes and no access to host "
                f"files outside /workspace.\nLimits: {limits.memory_bytes // MiB} MiB memory, "
                f"{timeout}, {limits.workspace_bytes // MiB} MiB workspace, notebook folder: "
                f"{self.host_folder_mode}.")

    # -- publishing ---------------------------------------------------------------------
    def _publisher(self, parent: dict[str, Any], silent: bool = False) -> Callable[[Message], None]:
        """Publish guest messages on IOPub under ``parent``. Silent requests publish no output
        (the protocol's meaning of ``silent``), only comm traffic."""
        passed = _COMM if silent else _OUTPUT | _COMM

        def publish(message: Message) -> None:
            msg_type = message["msg_type"]
            if msg_type not in passed or self.session is None:
                return
            content = message["content"]  # checked by the sandbox (protocol.clean_message)
            buffers: list[bytes | memoryview[bytes]] | None = None
            if msg_type in _COMM and content.get("buffers"):
                content = dict(content)
                try:
                    buffers = [base64.b64decode(b, validate=True) for b in content.pop("buffers")]
                except (binascii.Error, ValueError):
                    self.log.warning("dropped a %s message from the sandbox: its buffers are "
                                     "not base64", msg_type)
                    return
            self.session.send(self.iopub_socket, msg_type, content, parent=parent,
                              ident=self._topic(msg_type), buffers=buffers,
                              metadata=message.get("metadata") or {})

        return publish

    # -- execute ------------------------------------------------------------------------
    async def do_execute(self, code: str, silent: bool, store_history: bool = True,
                         user_expressions: dict[str, str] | None = None,
                         allow_stdin: bool = False, *, cell_meta: Any = None,
                         cell_id: str | None = None) -> dict[str, Any]:
        parent = self.get_parent("shell")
        ident = self._get_shell_context_var(self._shell_parent_ident)
        self._interrupted.clear()
        try:
            sandbox = await self.ready_sandbox()
        except BaseException as exc:  # noqa: BLE001 - every cell says why: none goes unanswered
            return self._start_failed_reply(exc)
        await self._comms_delivered()
        self._say_start_notice(parent, silent)
        input_handler = self._input_handler(parent, ident) if allow_stdin else None
        publish = self._publisher(parent, silent)
        reply: ExecuteReply = await sandbox.run_async(lambda: sandbox.execute(
            code, publish, silent=silent, store_history=store_history,
            user_expressions=user_expressions or {}, input_handler=input_handler))
        self.execution_count = reply.execution_count
        if any(item.get("source") == "ask_exit" and not item.get("keepkernel")
               for item in reply.payload):
            # exit() in a cell ends the kernel process, as ipykernel's shell does
            self.io_loop.call_later(0.1, self.io_loop.stop)
        if reply.status == "ok":
            return {"status": "ok", "execution_count": reply.execution_count,
                    "user_expressions": reply.user_expressions, "payload": reply.payload}
        if reply.restarted and self.session is not None:
            self.session.send(self.iopub_socket, "error",
                              {"ename": reply.ename, "evalue": reply.evalue,
                               "traceback": reply.traceback},
                              parent=parent, ident=self._topic("error"))
        return {"status": "error", "execution_count": reply.execution_count,
                "ename": reply.ename, "evalue": reply.evalue, "traceback": reply.traceback,
                "user_expressions": {}, "payload": []}

    def _say_start_notice(self, parent: dict[str, Any], silent: bool) -> None:
        """Once, in the first cell that shows output: why the start snapshot was not used."""
        notice = self._start_notice
        if not notice or silent or self.session is None:
            return
        self._start_notice = ""
        self.session.send(self.iopub_socket, "stream", {"name": "stderr", "text": notice},
                          parent=parent, ident=self._topic("stream"))

    def _start_failed_reply(self, exc: BaseException) -> dict[str, Any]:
        text = (f"The sandbox of this kernel failed to start: {exc}. Restart the kernel; the "
                "kernel's log says more.")
        return {"status": "error", "execution_count": self.execution_count,
                "ename": "SandboxStartError", "evalue": text, "traceback": [text],
                "user_expressions": {}, "payload": []}

    # -- stdin --------------------------------------------------------------------------
    def _input_handler(self, parent: dict[str, Any], ident: Any) -> Callable[[str, bool], str]:
        def ask(prompt: str, password: bool) -> str:
            return self._ask_front_end(prompt, password, parent, ident)

        return ask

    def _ask_front_end(self, prompt: str, password: bool, parent: dict[str, Any],
                       ident: Any) -> str:
        """Send input_request and wait for input_reply; an interrupt ends the wait."""
        session = self.session
        if session is None:  # the kernel app sets it before any request arrives
            raise StdinNotImplementedError("this kernel has no session to ask the front end with")
        while True:  # drop stale replies
            try:
                self.stdin_socket.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:
                break
        session.send(self.stdin_socket, "input_request",
                     {"prompt": prompt, "password": password}, parent, ident=ident)
        while True:
            if self._interrupted.is_set():
                raise KeyboardInterrupt
            ready, _, _ = zmq.select([self.stdin_socket], [], [], 0.02)
            if ready:
                _ident, reply = session.recv(self.stdin_socket)
                if reply is not None:
                    value = str(reply["content"].get("value", ""))
                    if value == "\x04":
                        raise EOFError
                    return value

    # -- control ------------------------------------------------------------------------
    async def interrupt_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        self._interrupted.set()
        if self._sandbox_ready.done() and self._sandbox_ready.exception() is None:
            self.sandbox.interrupt()
        if self.session is not None:
            self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        # Not on the guest thread: stopping the endpoint and closing the sandbox wait for it.
        if self.control_endpoint is not None:
            await asyncio.to_thread(self.control_endpoint.stop)
        if self._sandbox_ready.done() and self._sandbox_ready.exception() is None:
            await asyncio.to_thread(self.sandbox.close)
        return {"status": "ok", "restart": restart}

    # -- introspection ------------------------------------------------------------------
    async def do_complete(self, code: str, cursor_pos: int | None) -> dict[str, Any]:
        position = utf16_to_code_points(code, len(code) if cursor_pos is None else cursor_pos)
        sandbox = await self.ready_sandbox()
        reply: dict[str, Any] = dict(
            await sandbox.run_async(lambda: sandbox.complete(code, position)))
        for key in ("cursor_start", "cursor_end"):
            if key in reply:
                reply[key] = code_points_to_utf16(code, int(reply[key]))
        reply.setdefault("status", "ok")
        reply.setdefault("metadata", {})
        return reply

    async def do_inspect(self, code: str, cursor_pos: int, detail_level: int = 0,
                         omit_sections: Any = ()) -> dict[str, Any]:
        position = utf16_to_code_points(code, cursor_pos)
        sandbox = await self.ready_sandbox()
        reply: dict[str, Any] = dict(
            await sandbox.run_async(lambda: sandbox.inspect(code, position, detail_level)))
        reply.setdefault("status", "ok")
        return reply

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        sandbox = await self.ready_sandbox()
        return dict(await sandbox.run_async(lambda: sandbox.is_complete(code)))

    async def do_history(self, hist_access_type: str, output: bool, raw: bool,
                         session: int | None = None, start: int | None = None,
                         stop: int | None = None, n: int | None = None,
                         pattern: str | None = None, unique: bool = False) -> dict[str, Any]:
        request: HistoryQuery = {"hist_access_type": hist_access_type, "output": output,
                                 "raw": raw, "session": session, "start": start, "stop": stop,
                                 "n": n, "pattern": pattern, "unique": unique}
        sandbox = await self.ready_sandbox()
        reply = await sandbox.run_async(lambda: sandbox.history(request))
        return {"status": "ok", "history": [tuple(entry) for entry in reply.get("history", [])]}

    # -- comms --------------------------------------------------------------------------
    async def _comm_from_front_end(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Queue a front end's comm message for the guest, and return at once.

        ipykernel dispatches a comm message while another request holds the shell lock and,
        when the handler returns, restores the shell parent it saw on arrival. A handler that
        waited (for the sandbox to start, or behind a running cell on the guest thread) would
        return after the next request began, and that request's ``idle`` status would carry
        the old parent: JupyterLab then shows the cell as running for ever. So comms are
        delivered by a chain of tasks, one after another in arrival order, and ``do_execute``
        waits for those that came before its cell, as ipykernel handles them in order."""
        self._comm_deliveries = asyncio.ensure_future(
            self._deliver_comm(self._comm_deliveries, parent))

    async def _deliver_comm(self, previous: asyncio.Future[None] | None,
                            parent: dict[str, Any]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        msg_type, content = parent["header"]["msg_type"], parent["content"]
        publish, buffers = self._publisher(parent), [bytes(b) for b in parent.get("buffers") or []]
        try:
            sandbox = await self.ready_sandbox()
            await sandbox.run_async(
                lambda: sandbox.comm_message(msg_type, content, publish, buffers))
        except Exception:  # a comm has no reply to carry the error: log it
            self.log.exception("the %s from the front end could not reach the sandbox",
                               msg_type)

    async def _comms_delivered(self) -> None:
        """Wait until every comm message that arrived before now has reached the guest."""
        if self._comm_deliveries is not None:
            await asyncio.wait([self._comm_deliveries])

    async def comm_info_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        target = parent["content"].get("target_name")
        sandbox = await self.ready_sandbox()
        reply = await sandbox.run_async(lambda: sandbox.comm_info(target))
        if self.session is not None:
            self.session.send(stream, "comm_info_reply",
                              {"status": "ok", "comms": reply.get("comms", {})}, parent, ident)


__all__ = ["START_SNAPSHOT_ENV", "SandboxKernel", "StdinNotImplementedError"]
del sys
