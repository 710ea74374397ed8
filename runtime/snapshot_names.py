"""The snapshot-name rule, in one place with no imports beyond the standard library: the
runtime's snapshot store, the kernel and the server extension (through
``kernel.control_protocol``) all accept exactly the same names.

Names are restricted to ``[A-Za-z0-9_-]`` (1-100 characters) so they can never form a path.
"""

from __future__ import annotations

import re
from typing import TypeGuard

#: A valid snapshot name (ASCII letters, digits, ``_`` and ``-``; 1-100 characters).
NAME = re.compile(r"^[\w-]{1,100}$", re.ASCII)
#: A named snapshot's file is ``<name><SUFFIX>`` in its store's folder.
SUFFIX = ".snap"
#: What a valid name looks like, for error messages.
NAME_RULE = "use 1-100 letters, digits, '_' or '-'"


def is_snapshot_name(name: object) -> TypeGuard[str]:
    """Whether ``name`` is a string that is a valid snapshot name."""
    return isinstance(name, str) and NAME.match(name) is not None


def invalid_name_message(name: object) -> str:
    """Why ``name`` was refused, and what to use instead."""
    return f"invalid snapshot name {str(name)!r}: {NAME_RULE}"
