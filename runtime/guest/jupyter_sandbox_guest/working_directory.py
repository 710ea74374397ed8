"""``os.getcwd()`` answers a clean path after ``os.chdir('..')``, as on Linux.

wasi-libc emulates the working directory as a string: ``chdir("..")`` from ``/workspace/sub``
leaves ``/workspace/sub/..``, which ``os.getcwd()``, ``%cd`` and ``%pwd`` then show, and which
grows with every ``%cd ..``. A native kernel's ``getcwd`` returns the resolved folder. The
guest's ``os.chdir`` therefore changes directory as asked (so errors name the path the user
gave) and then settles on the resolved path of where it landed.
"""

from __future__ import annotations

import os
from typing import Any

_chdir = os.chdir


def chdir(path: Any) -> None:
    """``os.chdir`` whose resulting ``os.getcwd()`` holds no ``.``/``..`` or doubled ``/``."""
    _chdir(path)
    here = os.getcwd()
    resolved = os.path.realpath(here)
    if resolved != here:
        _chdir(resolved)


def install() -> None:
    os.chdir = chdir
