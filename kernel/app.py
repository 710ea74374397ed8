"""The kernel application: ipykernel's ``IPKernelApp`` with our kernel class and our own
config file name, so administrators configure limits in ``jupyter_sandbox_kernel_config.py``
(or ``.json``) in any Jupyter config folder, or on the kernelspec's command line, e.g.
``--SandboxKernel.memory_limit_mib=1024``."""

from __future__ import annotations

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel
from jupyter_core.paths import jupyter_config_path
from traitlets import Type, default

from .kernel import SandboxKernel


class SandboxKernelApp(IPKernelApp):
    name = "jupyter-sandbox-kernel"
    description = "The Sandboxed Python kernel: notebook code runs in a WebAssembly sandbox."
    kernel_class = Type(SandboxKernel, klass=Kernel,
                        help="The kernel class (always the sandboxed one).").tag(config=True)

    @default("ignore_cwd")
    def _never_the_working_directory(self) -> bool:
        """IPython's ``init_path`` would put ``''`` (the notebook's folder) on ``sys.path``,
        so a module beside the notebook would shadow one the kernel imports later."""
        return True

    @default("config_file_paths")
    def _jupyter_config_folders(self) -> list[str]:
        """Jupyter's config path (JUPYTER_CONFIG_DIR, the environment's etc/jupyter, …),
        highest priority last as IPython expects. Never the working directory: that is the
        notebook's folder, and a config file there would run native code in the kernel."""
        return list(reversed(jupyter_config_path()))

    def init_gui_pylab(self) -> None:
        """Nothing to do: plots are made inside the sandbox."""

    def init_extensions(self) -> None:
        """Host-side IPython extensions do not apply to the sandboxed interpreter."""

    def init_code(self) -> None:
        """Startup code runs inside the sandbox, not in the kernel process."""


def main() -> None:
    """Entry point of the kernelspec: ``python -m jupyter_sandbox.kernel -f CONNECTION_FILE``."""
    SandboxKernelApp.launch_instance()
