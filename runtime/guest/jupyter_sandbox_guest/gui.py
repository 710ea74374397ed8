"""``%matplotlib``, ``%pylab`` and ``%gui`` in the sandbox, as ipykernel's shell answers them.

IPython's ``InteractiveShell.enable_matplotlib`` does the real work (pick the backend,
activate it, let matplotlib-inline register its display formatters and the end-of-cell figure
flush); it needs ``enable_gui`` from the shell, which ipykernel implements by wiring a GUI event
loop into the kernel. The sandbox has no GUI toolkit, no threads and no live connection from
the browser to a figure server, so:

* ``inline``, bare ``%matplotlib`` and non-interactive backends (``agg``, ``svg``…) behave as
  on the stock kernel (matplotlib-inline is mounted in the guest);
* a backend that needs an event loop or a browser round trip (``notebook``/``nbagg``,
  ``widget``/``ipympl``, ``qt``, ``tk``, ``gtk``, ``wx``, ``macosx``, ``webagg``) falls back to
  ``inline`` with one notice on stderr, never an exception, so the rest of the notebook runs
  (ipympl, which would run over the comm bridge, cannot be used even when ``%pip`` installs
  it: the guest's matplotlib build lacks ``backend_webagg_core``, which its canvas builds on);
* ``%gui NAME`` for a GUI toolkit prints a notice and changes nothing; an unknown name is a
  ``UsageError`` listing the valid ones, as in ipykernel.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

from IPython.core.error import UsageError

INLINE = "inline"

#: What ipykernel's ``%gui`` accepts (its ``eventloops.loop_map``), besides ``None``.
KNOWN_LOOPS = ("inline", "nbagg", "webagg", "notebook", "ipympl", "widget", "qt", "qt5",
               "qt6", "wx", "tk", "gtk", "gtk3", "gtk4", "osx", "macosx", "asyncio")

#: Loops that need nothing the sandbox lacks: the inline backend, and asyncio (the guest's
#: own event loop already runs top-level ``await``).
_LOOPS_WITHOUT_GUI = (None, "inline", "asyncio")

#: Backends matplotlib only knows once an optional package (ipympl) registers them; the
#: sandbox treats them as the interactive backends they are.
_NEEDS_IPYMPL = ("widget", "ipympl")


def notice(requested: str) -> str:
    """The one line shown when ``requested`` falls back to inline figures."""
    return (f"Sandboxed Python: the interactive matplotlib backend {requested!r} needs a GUI "
            "or a live browser connection, which the sandbox does not have; figures are shown "
            "inline (static images) instead.")


def needs_interactive_backend(gui: str) -> bool:
    """True when ``gui`` (a %matplotlib argument) names an interactive backend or GUI loop.

    Names matplotlib does not know at all (a typo) are left for IPython to reject, as on the
    stock kernel.
    """
    name = gui.lower()
    if name in _NEEDS_IPYMPL or "ipympl" in name:
        return True
    from IPython.core import pylabtools

    if not pylabtools._matplotlib_manages_backends():
        return name not in ("inline", "agg", "svg", "pdf", "ps", "cairo", "pgf", "template")
    from matplotlib.backends.registry import backend_registry

    try:
        _backend, loop = backend_registry.resolve_gui_or_backend(
            pylabtools._convert_gui_to_matplotlib(name))
    except RuntimeError:
        return False
    return loop not in (None, "headless")


def inline_instead(gui: str | None) -> str | None:
    """The ``%matplotlib`` argument to use for ``gui``: itself, or ``inline`` with a notice."""
    if gui in (None, "auto") or not needs_interactive_backend(gui):
        return gui
    print(notice(gui), file=sys.stderr)
    return INLINE


def _backend_as_on_stock(matplotlib: types.ModuleType) -> None:
    """Bare ``%matplotlib`` picks the backend matplotlib started with (``rcParamsOrig``).
    The guest's matplotlib build names ``Agg`` in its bundled ``matplotlibrc``, where a stock
    install names none (auto), so bare ``%matplotlib`` chose Agg and figures vanished. When
    the start-up backend is that built-in default and ``MPLBACKEND`` is set (the sandbox sets
    it to the inline backend, as ipykernel does), leave the choice on "auto" as stock does:
    matplotlib then resolves it to the backend in use."""
    from matplotlib import rcsetup

    original, default = matplotlib.rcParamsOrig, matplotlib.rcParamsDefault
    if os.environ.get("MPLBACKEND") and dict.__getitem__(original, "backend") == \
            dict.__getitem__(default, "backend"):
        dict.__setitem__(original, "backend", rcsetup._auto_backend_sentinel)


def install() -> None:
    """Prepare matplotlib, whenever it is imported, to choose backends as on stock."""
    from .after_import import when_imported

    when_imported("matplotlib", _backend_as_on_stock)


def enable_gui(shell: Any, gui: str | None = None) -> None:
    """``%gui NAME`` (and the last step of ``enable_matplotlib``): the sandbox runs no GUI
    event loop, so only the loops in ``_LOOPS_WITHOUT_GUI`` are activated; a GUI toolkit gets
    a notice, an unknown name a ``UsageError``."""
    if gui is not None and gui not in KNOWN_LOOPS:
        raise UsageError(f"Invalid GUI request {gui!r}, valid ones are: "
                         f"{', '.join(KNOWN_LOOPS)}")
    if gui not in _LOOPS_WITHOUT_GUI:
        print(f"Sandboxed Python: no GUI event loop ({gui}) can run in the sandbox; "
              "`%matplotlib inline` shows figures in the notebook.", file=sys.stderr)
        return
    shell.active_eventloop = gui


__all__ = ["INLINE", "KNOWN_LOOPS", "enable_gui", "inline_instead", "install",
           "needs_interactive_backend", "notice"]
