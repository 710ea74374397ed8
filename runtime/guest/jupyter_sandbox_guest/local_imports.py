"""Modules next to the notebook import, as under ipykernel.

ipykernel's ``InteractiveShellApp.init_path`` puts ``''`` (the working directory, whatever it
is at import time) on ``sys.path`` after the standard library, so ``import helpers`` finds
``helpers.py`` beside the notebook and, after ``%cd data``, modules in ``data``. The guest
interpreter runs isolated (``sys.flags.safe_path``), so IPython's own ``init_path`` would do
nothing: this module does the same insertion itself. Inside the sandbox that is safe: the
working directory is the sandbox's own view of the notebook folder; the host process never
sees this path.

Python's path finders cache each folder's listing and notice new files by the folder's
modification time. A file the host adds below a layered mount (an upload from JupyterLab)
may not change the time the guest sees, so the finders of plain folders are told to list
again before each execution; zip archives (the standard library, hundreds of packages) are
left alone, since re-reading them costs far more and they never change.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import FileFinder
from typing import Any

#: What ipykernel puts on ``sys.path``: the working directory, looked up at each import.
WORKING_DIRECTORY_ENTRY = ""


def stdlib_end(path: list[str]) -> int:
    """The index just after the last standard-library entry of ``path`` (0 if none).

    The standard library is what lives under ``{sys.base_prefix}/lib/python``: the guest's
    ``python315.zip`` (with the built-in packages compiled into this build), a native
    interpreter's ``python3.X`` folders.
    """
    prefix = os.path.join(sys.base_prefix, "lib", "python")
    end = 0
    for index, entry in enumerate(path):
        if entry.startswith(prefix):
            end = index + 1
    return end


def put_working_directory_on_path(path: list[str]) -> None:
    """Insert ``''`` after the standard library, before the ``%pip`` site, as ipykernel does
    (it inserts before the first ``site-packages``, which on a native install comes right
    after the standard library). The guest's own shim and packages stay first, so a file in
    the notebook folder cannot shadow the shell itself. Nothing happens if it is there."""
    if WORKING_DIRECTORY_ENTRY in path:
        return
    path.insert(stdlib_end(path), WORKING_DIRECTORY_ENTRY)


def forget_folder_listings() -> None:
    """Make every folder's path finder list its folder again at the next import, so a module
    written since (by a cell, ``%%writefile``, the host) is found."""
    for finder in list(sys.path_importer_cache.values()):
        if isinstance(finder, FileFinder):
            finder.invalidate_caches()


_placed = False


def before_execution() -> None:
    """Before each execution: refresh folder listings; before the first, also put ``''`` on
    ``sys.path``.

    Not at boot: the base image every sandbox starts from is built by booting some sandbox,
    with its notebook folder as the working directory, and whatever the boot and the warm-up
    imports found there would be baked into every later sandbox. Only code of this sandbox's
    own cells runs with the notebook folder importable. Once placed, the entry is the
    user's: a cell that removes it is not overruled.
    """
    global _placed
    if not _placed:
        put_working_directory_on_path(sys.path)
        _placed = True
    forget_folder_listings()


def install(shell: Any) -> None:
    """Run ``before_execution`` before each execution (``pre_execute`` runs for silent ones
    too, such as a front end's or a widget library's)."""
    shell.events.register("pre_execute", before_execution)
