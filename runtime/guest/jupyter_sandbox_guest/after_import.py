"""Run a function on a module right after it is first imported (or now, if it already is).

The guest adjusts a few library functions it cannot support as they are (see
``unavailable``) without importing those libraries at boot: scikit-learn alone would add a
second to every sandbox's start. A finder placed first on ``sys.meta_path`` lets the normal
finders locate a watched module, then wraps the loader so the callbacks run once the module
has executed, before whatever imported it sees it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

Callback = Callable[[types.ModuleType], None]

_callbacks: dict[str, list[Callback]] = {}


class _PatchingLoader(importlib.abc.Loader):
    """Delegates to the real loader; after ``exec_module`` runs the module's callbacks."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        for callback in _callbacks.pop(self._name, []):
            callback(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, get_source, is_package…
        return getattr(self._loader, name)


class _Watcher(importlib.abc.MetaPathFinder):
    """Finds watched modules through the other finders and wraps their loaders."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _callbacks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, fullname)
                return spec
        return None


_watcher = _Watcher()


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``name`` is imported; at once if it already is."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _callbacks.setdefault(name, []).append(callback)
    if _watcher not in sys.meta_path:
        sys.meta_path.insert(0, _watcher)


__all__ = ["when_imported"]
