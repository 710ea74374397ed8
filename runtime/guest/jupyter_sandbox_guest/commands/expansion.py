"""Word expansion as bash does it, in its order: ``~``, ``$VAR``, field splitting of unquoted
expansions, then globs of the unquoted parts (no match → the word itself; hidden files only
when the pattern starts with ``.``; sorted by bytes, as in the C locale).

It runs when each command starts, not at parse time, because ``$?`` is the status of the
command before it and a glob after ``cd`` matches in the new directory.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping

from .parser import Word

__all__ = ["expand_word", "expand_words"]

_GLOB_CHARACTERS = frozenset("*?[")


def _variable(name: str, env: Mapping[str, str], status: int) -> str:
    if name == "?":
        return str(status)
    if name == "$":
        return str(os.getpid())
    if name == "#":
        return "0"
    if name == "0":
        return "sh"
    if name in "@*!-" or name.isdigit():
        return ""  # no positional parameters or background jobs in a command line
    return env.get(name, "")


def expand_word(word: Word, env: Mapping[str, str], cwd: str, status: int) -> list[str]:
    """The fields ``word`` expands to: none for an unquoted empty ``$VAR``, several when an
    unquoted variable holds spaces or a glob matches several files."""
    # Each field is a list of (text, active) runs; active text may be split and globbed.
    fields: list[list[tuple[str, bool]]] = [[]]
    had_quotes = False
    for index, part in enumerate(word):
        if part.quoted:
            had_quotes = True
        if not part.variable:
            text = part.text
            if index == 0 and not part.quoted and (text == "~" or text.startswith("~/")):
                home = env.get("HOME", "")
                fields[-1].append((home, False))
                text = text[1:]
            fields[-1].append((text, not part.quoted))
            continue
        value = _variable(part.text, env, status)
        if part.quoted:
            fields[-1].append((value, False))
            continue
        pieces = value.split(None) if value.strip() else []
        if value[:1].isspace() and fields[-1]:
            fields.append([])
        for n, piece in enumerate(pieces):
            if n:
                fields.append([])
            fields[-1].append((piece, True))
        if value[-1:].isspace() and pieces:
            fields.append([])
    result: list[str] = []
    for runs in fields:
        if not runs or (not had_quotes and not "".join(t for t, _ in runs)):
            if runs and had_quotes:
                result.append("")
            continue
        result.extend(_glob(runs, cwd))
    if not result and had_quotes:
        result.append("")
    return result


def _glob(runs: list[tuple[str, bool]], cwd: str) -> list[str]:
    text = "".join(t for t, _ in runs)
    if not any(active and _GLOB_CHARACTERS & set(t) for t, active in runs):
        return [text]
    pattern = "".join(t if active else glob.escape(t) for t, active in runs)
    matches = glob.glob(pattern, root_dir=cwd)
    if not matches:
        return [text]
    return sorted(matches, key=os.fsencode)


def expand_words(words: list[Word], env: Mapping[str, str], cwd: str, status: int) -> list[str]:
    """All the fields of ``words``, in order."""
    return [field for word in words for field in expand_word(word, env, cwd, status)]
