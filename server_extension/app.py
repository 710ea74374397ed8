"""``SandboxExtensionApp``: registers the preview handler and tells kernels the server's URL."""

from __future__ import annotations

import os
import urllib.parse
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from traitlets import Bool, Float, Int, Unicode
from traitlets.config import Config

from jupyter_sandbox.kernel.control_protocol import SERVER_URL_ENV

from . import errors as api_errors
from . import pooled_kernels
from .checkpoints import SandboxCheckpoints
from .control_client import ControlClient
from .handlers import files, notebook_pool, preview_settings, snapshots, status
from .handlers import previews as kernel_previews
from .previews import capability, origin
from .previews.grants import PreviewGrants
from .previews.hosts import PreviewHosts
from .previews.link import ROUTE as PREVIEW_ROUTE
from .previews.link import PreviewLinkHandler
from .service.config import SandboxServiceConfig

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

MiB = 1 << 20


class SandboxExtensionApp(SandboxServiceConfig, ExtensionApp):
    name = "jupyter_sandbox"
    description = "Preview URLs for web apps running inside Sandboxed Python kernels."

    public_url = Unicode(
        "", help="The server's public base URL (e.g. https://hub.example.org/user/me/) used "
                 "in preview links printed by kernels; default: the server's own URL.",
    ).tag(config=True)
    max_body_mib = Float(64.0, help="Largest request body the preview proxy accepts, in MiB "
                         "(kernels have their own limit too).").tag(config=True)
    max_upstream_connections = Int(64, help="Requests to kernels' preview endpoints in flight "
                                   "at once; more wait in a queue.").tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to connect to a kernel's control "
                            "socket.").tag(config=True)
    preview_host = Unicode(
        "", help="Serve each preview on an origin of its own: a host pattern with {port} and "
                 "{kernel}, e.g. '{port}-{kernel}.localhost' (browsers resolve *.localhost to "
                 "loopback) or '{port}-{kernel}.preview.example.com' (needs a wildcard DNS "
                 "record and certificate, see docs/deploy.md). Empty: previews share the "
                 "Jupyter origin and run sandboxed (opaque origin, no cookies).",
    ).tag(config=True)
    preview_token_lifetime = Float(
        60.0, help="Seconds the one-time token of a preview link stays valid (preview_host "
                   "mode): the browser exchanges it for the preview's cookie at once.",
    ).tag(config=True)
    preview_session_lifetime = Float(
        12 * 3600.0, help="Seconds a preview origin's cookie (preview_host mode), or a "
                          "preview's capability address (shared origin), stays valid; "
                          "afterwards opening the preview link again renews it.",
    ).tag(config=True)
    sandbox_checkpoints = Bool(True, help="Make notebook checkpoints also save and restore "
                               "the state of the notebook's sandboxed kernel.").tag(config=True)
    notebook_kernel_pool = Bool(False, help="Give notebooks pre-started Sandboxed Python "
                                "kernels: makes PooledKernelManager the server's kernel "
                                "manager (configure it as PooledKernelManager.*), unless "
                                "ServerApp.kernel_manager_class is set in the server's config."
                                ).tag(config=True)

    def _server(self) -> ServerApp:
        """The ServerApp that loaded this extension (set before it initializes)."""
        if self.serverapp is None:
            raise RuntimeError("the jupyter_sandbox server extension was used before "
                               "jupyter_server loaded it: enable it with "
                               "`jupyter server extension enable jupyter_sandbox`")
        return self.serverapp

    def initialize_settings(self) -> None:
        self.control = ControlClient(
            self._server().kernel_manager, connect_timeout=self.connect_timeout,
            max_preview_connections=self.max_upstream_connections,
            max_preview_body=int(self.max_body_mib * MiB))
        self.settings["jupyter_sandbox_control"] = self.control
        self.settings["jupyter_sandbox_max_body"] = int(self.max_body_mib * MiB)
        self.settings["jupyter_sandbox_preview_hosts"] = (
            PreviewHosts(self.preview_host) if self.preview_host else None)
        self.settings["jupyter_sandbox_preview_grants"] = PreviewGrants(
            token_lifetime=self.preview_token_lifetime,
            session_lifetime=self.preview_session_lifetime)
        self.settings["jupyter_sandbox_log"] = self.log
        self.initialize_service()
        # Once the server listens (its port is then final), kernels it starts inherit this.
        IOLoop.current().add_callback(self._publish_url)

    async def stop_extension(self) -> None:
        """The server is stopping: stop the service's idle reaper, then close the one
        control client (after the reaper, which may be using it)."""
        await self.stop_service()
        control: ControlClient | None = getattr(self, "control", None)
        if control is not None:
            control.close()

    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        """Linking runs before the server makes its contents manager: the moment to choose
        its checkpoints class through config, as an administrator would."""
        super()._link_jupyter_server_extension(serverapp)
        if self.sandbox_checkpoints:
            self._configure_checkpoints(serverapp)
        if self.notebook_kernel_pool:
            pooled_kernels.use_pooled_kernel_manager(serverapp, self.log)

    def _configure_checkpoints(self, serverapp: Any) -> None:
        """Make ``SandboxCheckpoints`` the contents manager's ``checkpoints_class`` (configure
        them as ``SandboxCheckpoints.*``), unless the administrator chose checkpoints for the
        contents manager in their own config: that choice wins (and is logged)."""
        config = serverapp.config
        for klass in serverapp.contents_manager_class.mro():
            section = config[klass.__name__] if klass.__name__ in config else {}
            chosen = {"checkpoints_class", "checkpoints"} & set(section)
            if chosen:
                self.log.info("jupyter_sandbox: %s.%s is configured; notebook checkpoints "
                              "will not hold sandbox state", klass.__name__, min(chosen))
                return
        name = f"{SandboxCheckpoints.__module__}.{SandboxCheckpoints.__qualname__}"
        serverapp.update_config(Config({"ContentsManager": {"checkpoints_class": name}}))

    def _publish_url(self) -> None:
        url = self.public_url or self._own_url()
        os.environ[SERVER_URL_ENV] = url if url.endswith("/") else url + "/"
        self.log.info("jupyter_sandbox: preview links point to %ssandbox/preview/", url)

    def _own_url(self) -> str:
        """The server's public base URL: scheme and host of its public URL (honouring
        ``ServerApp.custom_display_url``) with its ``base_url`` — not the public URL's path,
        which is ``default_url`` (``/lab`` under JupyterLab).

        Under JupyterHub the server's own address is behind the hub's proxy, out of the
        browser's reach: the hub's public URL of this server (``JUPYTERHUB_PUBLIC_URL``, set
        when the hub has a ``public_url``), else the base URL's path alone (``/user/alice/``),
        which the browser resolves against the hub's origin it is on."""
        server = self._server()
        if os.environ.get("JUPYTERHUB_SERVICE_PREFIX"):
            return os.environ.get("JUPYTERHUB_PUBLIC_URL") or server.base_url
        parts = urllib.parse.urlsplit(server.public_url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, server.base_url,
                                        "", ""))

    def initialize_handlers(self) -> None:
        hosts = self.settings.get("jupyter_sandbox_preview_hosts")
        if hosts is None:  # first: its paths are below the link route's
            self.handlers.append((capability.ROUTE, capability.PreviewCapabilityHandler))
        self.handlers.append((PREVIEW_ROUTE, PreviewLinkHandler))
        if hosts is not None:
            origin.register(self._server().web_app, hosts)
            self.log.info("jupyter_sandbox: previews are served on origins of their own: %s",
                          hosts.pattern)
        self.handlers.append((snapshots.ROUTE, snapshots.SnapshotsHandler))
        self.handlers.append((status.ROUTE, status.StatusHandler))
        self.handlers.append((notebook_pool.ROUTE, notebook_pool.NotebookPoolHandler))
        self.handlers.extend(kernel_previews.HANDLERS + files.HANDLERS + preview_settings.HANDLERS)
        self.handlers.extend(self.service_routes())
        self.handlers.extend(api_errors.HANDLERS)  # last: any other path under sandbox/api/
