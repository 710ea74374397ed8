"""The IPython extensions a kernel loads when it starts, loaded in the guest shell too.

ipykernel's app loads ``InteractiveShellApp.default_extensions`` (``storemagic``, which gives
``%store``); a bare ``InteractiveShell`` loads none, so notebooks using ``%store`` failed with
"Line magic function `%store` not found". ``%store`` keeps its values in the shell's database
under ``IPYTHONDIR`` (the sandbox's ``/tmp/.ipython``), so they live as long as the sandbox's
``/tmp``: across cells, snapshots and restores of this sandbox.
"""

from __future__ import annotations

from typing import Any

#: As ``IPython.core.shellapp.InteractiveShellApp.default_extensions``.
DEFAULT_EXTENSIONS = ("storemagic",)


def load(shell: Any) -> None:
    """Load each default extension by its full name inside IPython, so the boot (whose memory
    becomes the base image of every sandbox) imports nothing found on ``sys.path`` by a bare
    name; ``%load_ext storemagic`` still answers "already loaded", as on ipykernel. A failure
    raises, so the guest's start reports it."""
    for name in DEFAULT_EXTENSIONS:
        shell.extension_manager.load_extension(f"IPython.extensions.{name}")
