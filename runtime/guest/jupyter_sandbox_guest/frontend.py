"""The guest shell as libraries see it: ipykernel's shell behind a Jupyter front end.

Libraries decide how to show things by probing the shell, and each probes differently:

* pandas' ``in_ipython_frontend()`` looks for ``zmq`` in the shell's type, and its default
  ``display.max_columns`` (20 rather than the terminal's 0, which truncates wide frames with
  ``...`` to the terminal width) for a ``kernel`` attribute on the shell;
* tqdm's ``tqdm.auto`` picks the widget progress bar when ``ipykernel.zmqshell`` is imported;
* snippets all over the web compare ``get_ipython().__class__.__name__`` with
  ``'ZMQInteractiveShell'`` or look for ``'IPKernelApp'`` in ``get_ipython().config``;
* ipywidgets' ``Output`` asks ``get_ipython().kernel.get_parent()`` for the current request.

* others test ``'zmqshell' in str(type(get_ipython()))``.

So the guest's shell class is ``ZMQInteractiveShell``, carries a small :class:`Kernel` (no
sockets: only what such probes read), and the shell's config has an ``IPKernelApp`` section.
``sys.modules['ipykernel.zmqshell']`` is this module and the class says it lives there, so
its repr, the module check above and ``from ipykernel.zmqshell import ZMQInteractiveShell``
agree (``inspect.getfile`` still finds this file); ``ipykernel`` itself is not in the guest
and ``import ipykernel`` still fails, as it should (there are no kernel sockets or ipykernel
APIs in here).
"""

from __future__ import annotations

import sys
from typing import Any

from traitlets import Any as AnyTrait
from traitlets.config import Config

from . import gui
from .shell import SandboxShell

#: What the host kernel reports in kernel_info (kernel/kernel.py).
IMPLEMENTATION = "jupyter-sandbox"

#: Where libraries look for ipykernel's shell module.
ZMQSHELL_MODULE = "ipykernel.zmqshell"


class Kernel:
    """What ``get_ipython().kernel`` offers inside the sandbox: identity, the shell, comms,
    and the parent request (unknown in the guest, hence empty, which ipywidgets handles)."""

    implementation = IMPLEMENTATION
    eventloop = None

    def __init__(self, shell: ZMQInteractiveShell) -> None:
        self.shell = shell
        # as the host kernel's kernel_info reports it (kernel/kernel.py); %notebook reads it
        self.language_info = {
            "name": "python", "version": sys.version.split()[0], "mimetype": "text/x-python",
            "file_extension": ".py", "pygments_lexer": "ipython3",
            "codemirror_mode": {"name": "ipython", "version": 3}, "nbconvert_exporter": "python",
        }

    @property
    def comm_manager(self) -> Any:
        """The comm manager guest widgets register with (see ``comms``)."""
        from . import comms

        return comms._get_comm_manager()

    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        """ipykernel's current request; the guest is not told it, so there is none."""
        return {}

    def __repr__(self) -> str:
        return f"<{IMPLEMENTATION} kernel (inside the sandbox)>"


class ZMQInteractiveShell(SandboxShell):
    """The sandbox's shell under the name (and with the ``kernel``) ipykernel's has, with
    ``%matplotlib``/``%pylab``/``%gui`` answered as the sandbox can (see ``gui``)."""

    kernel = AnyTrait(help="the stand-in for ipykernel's kernel object, see Kernel")

    def enable_gui(self, gui_name: str | None = None) -> None:
        gui.enable_gui(self, gui_name)

    def enable_matplotlib(self, gui_name: str | None = None) -> tuple[Any, Any]:
        return super().enable_matplotlib(gui.inline_instead(gui_name))

    def ask_exit(self) -> None:
        """``exit()``/``quit()`` in a cell, as ipykernel's shell answers it: an ``ask_exit``
        payload; the host kernel then ends its process as ipykernel's does (the front end
        restarts the kernel)."""
        self.write_payload({"source": "ask_exit", "keepkernel": False})


ZMQInteractiveShell.__module__ = ZMQSHELL_MODULE


def create_shell() -> ZMQInteractiveShell:
    """The one shell of this guest, looking like ipykernel's from the first cell on (pandas
    reads the ``kernel`` attribute when it is imported)."""
    shell = ZMQInteractiveShell.instance()
    shell.kernel = Kernel(shell)
    if "IPKernelApp" not in shell.config:
        shell.config["IPKernelApp"] = Config()
    sys.modules.setdefault(ZMQSHELL_MODULE, sys.modules[__name__])
    gui.install()
    return shell


__all__ = ["IMPLEMENTATION", "Kernel", "ZMQInteractiveShell", "create_shell"]
