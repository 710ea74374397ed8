"""``python -I -m jupyter_sandbox.kernel -f CONNECTION_FILE`` starts the Sandboxed Python kernel.

The kernel's working directory is the notebook's folder, which holds untrusted files: a
``json.py`` or ``tarfile.py`` there must never be imported by this (host) process. The
kernelspec runs Python isolated (``-I``: no working directory, no ``PYTHONPATH``, no user site
on ``sys.path``); for a launch without ``-I``, the guard below drops those entries before
anything else is imported, as ipykernel's own launcher does for the working directory.
"""

import os
import sys


def _drop_untrusted_import_paths() -> None:
    """Remove the working directory (``''``, ``'.'`` or its absolute path) and the entries
    ``PYTHONPATH`` added from ``sys.path``. Only ``sys`` and ``os`` (built in / frozen, so they
    cannot be shadowed) are used here."""
    untrusted = {"", ".", os.curdir}
    try:
        untrusted.add(os.path.realpath(os.getcwd()))
    except OSError:  # the working directory was removed: nothing there to import anyway
        pass
    if not sys.flags.ignore_environment:
        untrusted.update(os.path.realpath(entry) for entry in
                         os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry)
    sys.path[:] = [entry for entry in sys.path
                   if entry not in untrusted and os.path.realpath(entry) not in untrusted]


_drop_untrusted_import_paths()

import threading  # noqa: E402 - only after the guard


def _preload() -> None:
    """Load the compiled guest while ipykernel imports (it mostly runs outside the GIL), so
    the sandbox is ready sooner after the kernel's channels are up.

    The base image is not preloaded: ``base_image.load`` needs the sandbox's size bounds,
    which come from the kernel's config, and keeps the first image it decodes. (The call
    here had no bounds, so it always failed into the ``except`` below; mypy found it.)"""
    import logging

    from jupyter_sandbox.runtime import module_cache

    try:
        module_cache.guest_module()
    except Exception:  # the real start reports any problem with its context
        logging.getLogger("jupyter_sandbox.kernel").debug(
            "preloading the compiled guest failed; the sandbox's start will say why",
            exc_info=True)


if __name__ == "__main__":
    threading.Thread(target=_preload, name="sandbox-preload", daemon=True).start()
    from .app import main

    main()
