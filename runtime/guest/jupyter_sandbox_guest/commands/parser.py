"""A command line → lists of pipelines of simple commands, with words kept unexpanded.

Why a hand-written lexer and not ``shlex.split``: in POSIX mode ``shlex`` drops the quotes, and
with them the one fact that ``$VAR``, glob and ``~`` expansion need — which characters were
quoted (``'*.csv'`` is data, ``*.csv`` a pattern; ``'$HOME'`` is text). So each word is kept
as parts that remember their quoting, and :mod:`.expansion` expands them when the command
runs (``$?`` and globs after a ``cd`` depend on what ran before).

Syntax the sandbox's shell does not run yet (``$(...)``, backticks, ``&``, here-documents,
subshells, ``if``/``for``/``while``) raises :class:`ShellSyntaxError` naming it, instead of
being misread as words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Command", "Part", "Pipeline", "Redirection", "ShellSyntaxError", "Word", "parse"]


class ShellSyntaxError(ValueError):
    """The line is not valid shell, or uses shell syntax the sandbox does not support yet.

    The runner turns it into exit status 2 with the message on stderr, as bash does for a
    syntax error."""


@dataclass(frozen=True)
class Part:
    """A piece of a word: literal ``text``, or the name of a variable when ``variable``.
    ``quoted`` parts are not split into fields nor used as glob patterns."""

    text: str
    quoted: bool
    variable: bool = False


Word = tuple[Part, ...]


@dataclass(frozen=True)
class Redirection:
    """``fd`` redirected: ``op`` is ``<``, ``>``, ``>>`` (``target`` a word) or ``>&`` (``target``
    the number of the descriptor it duplicates)."""

    fd: int
    op: str
    target: Word | int


@dataclass
class Command:
    """A simple command: its words (assignments first, as typed) and its redirections, in
    order (``> f 2>&1`` and ``2>&1 > f`` differ)."""

    words: list[Word] = field(default_factory=list)
    redirections: list[Redirection] = field(default_factory=list)


@dataclass
class Pipeline:
    """Commands joined by ``|``; ``connector`` says when it runs: ``;`` always, ``&&`` after
    success, ``||`` after failure."""

    connector: str
    commands: list[Command] = field(default_factory=list)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL_VARIABLES = "?$#@*!0123456789-"
_COMPOUND_WORDS = frozenset({
    "if", "then", "elif", "else", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "select", "function", "{", "}", "[[", "]]",
})
_WORD_END = " \t\n|&;<>()"


def _unsupported(what: str) -> ShellSyntaxError:
    return ShellSyntaxError(
        f"{what} is not supported by the sandbox's shell yet (it runs words, quotes, $VAR, "
        "globs, pipes, <, >, >>, 2>&1, &&, || and ;)"
    )


@dataclass(frozen=True)
class _Operator:
    text: str


@dataclass(frozen=True)
class _RedirectionToken:
    fd: int
    op: str
    duplicate: int | None = None


_Token = Word | _Operator | _RedirectionToken


class _Lexer:
    """Splits a line into words (tuples of parts) and operator tokens."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.i = 0
        self.tokens: list[_Token] = []
        self.parts: list[Part] = []
        self.in_word = False

    def add(self, text: str, quoted: bool, variable: bool = False) -> None:
        """Append to the current word, merging adjacent literal text of the same quoting."""
        self.in_word = True
        last = self.parts[-1] if self.parts else None
        if (last is not None and not variable and not last.variable
                and last.quoted == quoted):
            self.parts[-1] = Part(last.text + text, quoted)
        else:
            self.parts.append(Part(text, quoted, variable))

    def end_word(self) -> None:
        if self.in_word:
            self.tokens.append(tuple(self.parts))
        self.parts = []
        self.in_word = False

    def run(self) -> list[_Token]:
        line = self.line
        while self.i < len(line):
            c = line[self.i]
            if c in " \t":
                self.end_word()
                self.i += 1
            elif c == "\n":
                self.end_word()
                self.tokens.append(_Operator(";"))
                self.i += 1
            elif c == "#" and not self.in_word:
                end = line.find("\n", self.i)
                self.i = len(line) if end < 0 else end
            elif c == "'":
                end = line.find("'", self.i + 1)
                if end < 0:
                    raise ShellSyntaxError("unexpected end of line while looking for the "
                                           "matching ' (a quote is not closed)")
                self.add(line[self.i + 1:end], quoted=True)
                self.i = end + 1
            elif c == '"':
                self.double_quoted()
            elif c == "\\":
                if self.i + 1 >= len(line):
                    self.add("\\", quoted=True)
                    self.i += 1
                elif line[self.i + 1] == "\n":
                    self.i += 2  # a line continuation
                else:
                    self.add(line[self.i + 1], quoted=True)
                    self.i += 2
            elif c == "$":
                self.dollar(quoted=False)
            elif c == "`":
                raise _unsupported("command substitution with backticks `...`")
            elif c in "|&;<>()":
                self.operator()
            else:
                start = self.i
                while self.i < len(line) and line[self.i] not in _WORD_END + "'\"\\$`":
                    self.i += 1
                self.add(line[start:self.i], quoted=False)
        self.end_word()
        return self.tokens

    def double_quoted(self) -> None:
        line = self.line
        self.i += 1
        self.add("", quoted=True)  # "" is an empty word, not no word
        while True:
            if self.i >= len(line):
                raise ShellSyntaxError('unexpected end of line while looking for the '
                                       'matching " (a quote is not closed)')
            c = line[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\" and self.i + 1 < len(line) and line[self.i + 1] in '$`"\\\n':
                if line[self.i + 1] != "\n":
                    self.add(line[self.i + 1], quoted=True)
                self.i += 2
            elif c == "$":
                self.dollar(quoted=True)
            elif c == "`":
                raise _unsupported("command substitution with backticks `...`")
            else:
                self.add(c, quoted=True)
                self.i += 1

    def dollar(self, quoted: bool) -> None:
        line = self.line
        nxt = line[self.i + 1] if self.i + 1 < len(line) else ""
        if nxt == "(":
            raise _unsupported("arithmetic $((...))" if line.startswith("$((", self.i)
                               else "command substitution $(...)")
        if nxt == "{":
            end = line.find("}", self.i + 2)
            name = line[self.i + 2:end] if end >= 0 else ""
            if end < 0:
                raise ShellSyntaxError("unexpected end of line while looking for the "
                                       "matching } of ${")
            if not (_NAME.fullmatch(name) or (len(name) == 1 and name in _SPECIAL_VARIABLES)):
                raise _unsupported(f"the parameter expansion ${{{name}}} (only ${{NAME}})")
            self.add(name, quoted, variable=True)
            self.i = end + 1
        elif nxt == "'" and not quoted:
            raise _unsupported("ANSI-C quoting $'...'")
        elif nxt and nxt in _SPECIAL_VARIABLES:
            self.add(nxt, quoted, variable=True)
            self.i += 2
        elif (match := _NAME.match(line, self.i + 1)) is not None:
            self.add(match.group(), quoted, variable=True)
            self.i = match.end()
        else:
            self.add("$", quoted)
            self.i += 1

    def operator(self) -> None:
        line = self.line
        rest = line[self.i:]
        # A word of digits right before < or > names the descriptor (2>, 1>>).
        fd: int | None = None
        if (rest[0] in "<>" and len(self.parts) == 1 and not self.parts[0].quoted
                and not self.parts[0].variable and self.parts[0].text.isdigit()):
            fd = int(self.parts[0].text)
            self.parts = []
            self.in_word = False
        self.end_word()
        for text in ("&&", "||", ";"):
            if rest.startswith(text):
                if rest.startswith(";;"):
                    raise ShellSyntaxError("syntax error near unexpected token `;;'")
                self.tokens.append(_Operator(text))
                self.i += len(text)
                return
        if rest.startswith("|&"):
            raise _unsupported("|& (write `2>&1 |`)")
        if rest[0] == "|":
            self.tokens.append(_Operator("|"))
            self.i += 1
            return
        if rest.startswith("&>"):
            op = ">>" if rest.startswith("&>>") else ">"
            self.tokens.append(_RedirectionToken(1, op))
            self.tokens.append(_RedirectionToken(2, ">&", duplicate=1))
            self.i += 1 + len(op)
            return
        if rest[0] == "&":
            raise _unsupported("running a command in the background with &")
        if rest[0] in "()":
            raise _unsupported("a subshell ( ... )")
        if rest.startswith("<<"):
            raise _unsupported("a here-document or here-string (<<, <<<)")
        if rest.startswith(("<(", ">(")):
            raise _unsupported("process substitution <(...) / >(...)")
        if rest.startswith(("<&", "<>")):
            raise _unsupported(f"the redirection {rest[:2]}")
        if rest[0] == "<":
            self.tokens.append(_RedirectionToken(0 if fd is None else fd, "<"))
            self.i += 1
            return
        target_fd = 1 if fd is None else fd
        if rest.startswith(">&"):
            match = re.match(r">&([0-9]+)", rest)
            if match is None:
                raise _unsupported(f"the redirection {rest[:3].strip()} (only >&N, e.g. 2>&1)")
            self.tokens.append(_RedirectionToken(target_fd, ">&", duplicate=int(match[1])))
            self.i += match.end()
            return
        op = ">>" if rest.startswith(">>") else ">"
        self.tokens.append(_RedirectionToken(target_fd, op))
        self.i += len(op) + (1 if rest.startswith(">|") else 0)


def _word_text(word: Word) -> str | None:
    """The word's text if it is one unquoted literal (a reserved word candidate)."""
    if len(word) == 1 and not word[0].quoted and not word[0].variable:
        return word[0].text
    return None


def parse(line: str) -> list[Pipeline]:
    """Parse ``line`` into pipelines with their connectors; raise :class:`ShellSyntaxError`."""
    tokens = _Lexer(line).run()
    pipelines: list[Pipeline] = []
    pipeline = Pipeline(";")
    command = Command()
    i = 0

    def finish_command(next_token: str) -> None:
        nonlocal command
        if not command.words and not command.redirections:
            raise ShellSyntaxError(f"syntax error near unexpected token `{next_token}'")
        pipeline.commands.append(command)
        command = Command()

    while i < len(tokens):
        token = tokens[i]
        if isinstance(token, tuple):
            if not command.words and _word_text(token) in _COMPOUND_WORDS:
                raise _unsupported(f"the compound command `{_word_text(token)}`")
            command.words.append(token)
        elif isinstance(token, _RedirectionToken):
            if token.duplicate is not None:
                command.redirections.append(Redirection(token.fd, ">&", token.duplicate))
            else:
                target = tokens[i + 1] if i + 1 < len(tokens) else None
                if not isinstance(target, tuple):
                    shown = "newline" if target is None else getattr(target, "text", token.op)
                    raise ShellSyntaxError(f"syntax error near unexpected token `{shown}'")
                command.redirections.append(Redirection(token.fd, token.op, target))
                i += 1
        elif token.text == "|":
            finish_command("|")
        else:
            if command.words or command.redirections:
                finish_command(token.text)
            elif pipeline.commands:  # `a | ;`
                raise ShellSyntaxError(f"syntax error near unexpected token `{token.text}'")
            if pipeline.commands:
                pipelines.append(pipeline)
            elif token.text != ";" or pipeline.connector != ";":
                # `&& ls`, `ls && ;`: an operator with no command before it (empty lines,
                # which lex as `;`, are fine).
                raise ShellSyntaxError(f"syntax error near unexpected token `{token.text}'")
            pipeline = Pipeline(token.text)
        i += 1
    if command.words or command.redirections:
        finish_command("newline")
    elif pipeline.commands:
        raise ShellSyntaxError("syntax error: the line ends after `|'")
    if pipeline.commands:
        pipelines.append(pipeline)
    elif pipeline.connector in ("&&", "||"):
        raise ShellSyntaxError(f"syntax error: the line ends after `{pipeline.connector}'")
    return pipelines
