"""Cursor positions: the front end counts UTF-16 code units (JavaScript string indices), the
guest's IPython counts code points. They differ only for characters outside the BMP (emoji)."""

from __future__ import annotations


def utf16_to_code_points(text: str, utf16_offset: int) -> int:
    """The code-point index that sits at ``utf16_offset`` UTF-16 units into ``text``."""
    units = 0
    for index, char in enumerate(text):
        if units >= utf16_offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def code_points_to_utf16(text: str, index: int) -> int:
    """The UTF-16 offset of code-point ``index`` in ``text``."""
    prefix = text[: max(0, index)]
    return len(prefix) + sum(1 for char in prefix if ord(char) > 0xFFFF)
