"""The kernel's control endpoint: HTTP over a Unix socket (mode 0600) beside the connection
file, for the Jupyter server extension. See ``control_protocol`` for the routes.

It runs its own asyncio loop on its own thread, so a cell that keeps the sandbox busy never
stops it from accepting connections (requests then wait for the sandbox, or get 503).
Other features add routes to ``ROUTES``: ``(pattern, handler class)``; handlers find the
sandbox and the preview gateway in ``self.settings["sandbox"]``/``["previews"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from pathlib import Path

import tornado.httpserver
import tornado.netutil
import tornado.web

from jupyter_sandbox.runtime.previews import PreviewGateway, PreviewLimits
from jupyter_sandbox.runtime.sandbox import Sandbox

from . import (
    control_commands,
    control_exec,
    control_files,
    control_handover,
    control_network,
    control_packages,
    control_preview_stop,
    control_snapshots,
)
from .control_base import ControlHandler, UnknownRouteHandler
from .control_previews import PreviewHTTPHandler, PreviewWebSocketHandler
from .control_protocol import MAX_SNAPSHOT_BYTES, MAX_SOCKET_PATH, socket_path_for

log = logging.getLogger("jupyter_sandbox.kernel.control")


class StatusHandler(ControlHandler):
    async def get(self) -> None:
        status = await asyncio.to_thread(self.sandbox.status)
        self.send_json(200, status)


#: The endpoint's routes; extend with ``ROUTES.append((pattern, HandlerClass))`` before start.
ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/status", StatusHandler),
    (r"/preview/([0-9]+)(?:/.*)?", PreviewHTTPHandler),
    (r"/preview-ws/([0-9]+)(?:/.*)?", PreviewWebSocketHandler),
    *control_snapshots.ROUTES,
    *control_packages.ROUTES,
    *control_exec.ROUTES,
    *control_files.ROUTES,
    *control_preview_stop.ROUTES,
    *control_commands.ROUTES,
    *control_handover.ROUTES,
    *control_network.ROUTES,
]


class ControlEndpointError(RuntimeError):
    """The control socket could not be opened."""


class ControlEndpoint:
    """Serves ``ROUTES`` for one sandbox on a Unix socket. ``stop()`` is idempotent; also a
    context manager."""

    def __init__(self, sandbox: Sandbox, socket_path: str | Path,
                 limits: PreviewLimits | None = None, logger: logging.Logger | None = None) -> None:
        self.sandbox = sandbox
        self.socket_path = Path(socket_path)
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise ControlEndpointError(
                f"the control socket path is too long for a Unix socket ({self.socket_path}); "
                "use a shorter JUPYTER_RUNTIME_DIR")
        self.log = logger or log
        self.previews = PreviewGateway(sandbox, limits, self.log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    @classmethod
    def for_connection_file(cls, sandbox: Sandbox, connection_file: str | Path,
                            limits: PreviewLimits | None = None,
                            logger: logging.Logger | None = None) -> ControlEndpoint:
        return cls(sandbox, socket_path_for(connection_file), limits, logger)

    def start(self) -> None:
        """Bind the socket and serve on a new thread; returns once it accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._listen()
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="sandbox-control", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise ControlEndpointError(f"cannot serve the control socket {self.socket_path}: "
                                       f"{failure[0]}") from failure[0]
        self.log.info("sandbox control endpoint on %s", self.socket_path)

    def _listen(self) -> None:
        app = tornado.web.Application(
            list(ROUTES), default_handler_class=UnknownRouteHandler,
            sandbox=self.sandbox, previews=self.previews,
            websocket_max_message_size=self.previews.limits.max_body_bytes)
        # Room for whole snapshots (PUT /snapshot); the preview gateway enforces its own,
        # smaller body limit and answers 413 itself.
        self._server = tornado.httpserver.HTTPServer(
            app, max_body_size=max(self.previews.limits.max_body_bytes + (1 << 20),
                                   MAX_SNAPSHOT_BYTES),
            idle_connection_timeout=3600)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # left by a kernel that was killed
        sock = tornado.netutil.bind_unix_socket(str(self.socket_path), mode=0o600)
        self._server.add_sockets([sock])

    def stop(self) -> None:
        """Close the socket and stop the thread (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        loop, server = self._loop, self._server
        if loop is not None and not loop.is_closed():
            async def shut() -> None:
                if server is not None:
                    server.stop()
                    await server.close_all_connections()

            def stop_loop() -> None:
                task = loop.create_task(shut())
                task.add_done_callback(lambda _t: loop.stop())

            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop_loop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def __enter__(self) -> ControlEndpoint:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


__all__ = ["ROUTES", "ControlEndpoint", "ControlEndpointError", "StatusHandler"]
