"""complete, inspect and is_complete requests, answered as ipykernel's ``IPythonKernel`` does.

Cursor positions are in Unicode code points (the kernel layer converts from UTF-16).
"""

from __future__ import annotations

from typing import Any

from IPython.core.completer import provisionalcompleter, rectify_completions
from IPython.utils.tokenutil import token_at_cursor

#: ipykernel's metadata key for the typed completions JupyterLab shows.
EXPERIMENTAL_TYPES_KEY = "_jupyter_types_experimental"


def _zip_aware_module_list(path: str) -> list[str]:
    """IPython's ``module_list`` reads ``zipimporter._files``, which Python 3.15 no longer has,
    so nothing in the stdlib zip completed after ``import``. List zip members instead."""
    import os
    import zipfile

    from IPython.core import completerlib

    if path and os.path.isfile(path) and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = {name.split("/")[0] if "/" in name else name for name in archive.namelist()}
        modules = {m.group("name") for n in names if (m := completerlib.import_re.match(n))}
        modules.update(n for n in names if "." not in n and n.isidentifier())
        return sorted(modules)
    return _original_module_list(path)


from IPython.core import completerlib as _completerlib  # noqa: E402

_original_module_list = _completerlib.module_list
_completerlib.module_list = _zip_aware_module_list


def complete(shell: Any, code: str, cursor_pos: int | None) -> dict[str, Any]:
    """Completions at ``cursor_pos`` from IPython's completer (jedi included)."""
    if cursor_pos is None:
        cursor_pos = len(code)
    with provisionalcompleter():
        completions = list(rectify_completions(code, shell.Completer.completions(code, cursor_pos)))
    typed = [{"start": c.start, "end": c.end, "text": c.text, "type": c.type,
              "signature": c.signature} for c in completions]
    if completions:
        start, end = completions[0].start, completions[0].end
    else:
        start = end = cursor_pos
    return {"status": "ok", "matches": [c.text for c in completions], "cursor_start": start,
            "cursor_end": end, "metadata": {EXPERIMENTAL_TYPES_KEY: typed}}


def inspect(shell: Any, code: str, cursor_pos: int | None, detail_level: int = 0) -> dict[str, Any]:
    """Help for the name at the cursor (``obj?`` / ``obj??`` for detail_level 0 / 1)."""
    if cursor_pos is None:
        cursor_pos = len(code)
    name = token_at_cursor(code, cursor_pos)
    reply: dict[str, Any] = {"status": "ok", "data": {}, "metadata": {}, "found": False}
    if not name:
        return reply
    try:
        bundle = shell.object_inspect_mime(name, detail_level=detail_level)
    except KeyError:  # IPython's way of saying "no such object"
        return reply
    if not shell.enable_html_pager:
        bundle.pop("text/html", None)
    reply["data"].update(bundle)
    reply["found"] = True
    return reply


def is_complete(shell: Any, code: str) -> dict[str, Any]:
    """Whether ``code`` is a complete cell, and the indent for its next line if not."""
    status, indent_spaces = shell.input_transformer_manager.check_complete(code)
    indent = " " * (indent_spaces or 0) if status == "incomplete" else ""
    return {"status": status, "indent": indent}


__all__ = ["EXPERIMENTAL_TYPES_KEY", "complete", "inspect", "is_complete"]
