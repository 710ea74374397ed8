"""The programs the sandbox's shell runs, written in Python over the sandbox's filesystem.

Each takes an :class:`~.invocation.Invocation` and returns its exit status; all read and write
bytes, so binary data and invalid UTF-8 pass through pipes intact. Options, output and error
messages follow GNU coreutils and grep in the C locale (what a notebook written on Linux
expects to see). ``PROGRAMS`` is the registry the runner looks names up in: later work adds
``python``, ``pip`` and ``node`` there as programs that start sandbox processes.
"""

from __future__ import annotations

import getopt
import math
import os
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

from .invocation import Invocation, Program, UsageError, quote

__all__ = ["PROGRAMS", "dispatch", "not_found_message"]


def _parse(inv: Invocation, short: str, long: Sequence[str] = (), status: int = 1,
           args: list[str] | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """GNU-style options (permuted, ``--`` ends them); a bad one is a :class:`UsageError`."""
    try:
        return getopt.gnu_getopt(inv.args if args is None else args, short, list(long))
    except getopt.GetoptError as error:
        if error.opt and len(error.opt) == 1 and "requires argument" in error.msg:
            raise UsageError(f"option requires an argument -- '{error.opt}'", status) from None
        if error.opt and len(error.opt) == 1:
            raise UsageError(f"invalid option -- '{error.opt}'", status) from None
        raise UsageError(f"unrecognized option '--{error.opt}'", status) from None


def _flags(options: list[tuple[str, str]]) -> set[str]:
    return {name for name, _ in options}


# --- echo, printf, pwd, true, false, sleep, env, which, cd, export -----------------------

_ESCAPES = {"\\": "\\", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t", "v": "\v", '"': '"'}
_ESCAPE = re.compile(r"\\(0[0-7]{0,3}|[0-7]{1,3}|x[0-9A-Fa-f]{1,2}|c|.)", re.S)


def _unescape(text: str, octal_needs_zero: bool) -> tuple[bytes, bool]:
    """Backslash escapes as ``echo -e`` (``\\0nnn``) or ``printf`` (``\\nnn``) read them;
    the flag says ``\\c`` asked to stop all output."""
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += os.fsencode(text[pos:match.start()])
        pos = match.end()
        code = match.group(1)
        if code == "c":
            return bytes(out), True
        if code[0] == "x":
            out.append(int(code[1:], 16))
        elif code[0] in "01234567" and (code[0] == "0" or not octal_needs_zero):
            digits = code[1:] if code[0] == "0" and octal_needs_zero else code
            out.append(int(digits or "0", 8) & 0xFF)
        elif code in _ESCAPES:
            out += _ESCAPES[code].encode()
        else:
            out += os.fsencode("\\" + code)
    out += os.fsencode(text[pos:])
    return bytes(out), False


def echo(inv: Invocation) -> int:
    """bash's built-in echo: leading ``-n``/``-e``/``-E`` clusters are options, anything else
    (``-x``, ``--``) is text."""
    args = inv.args
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for flag in args[0][1:]:
            newline = newline and flag != "n"
            escapes = {"e": True, "E": False}.get(flag, escapes)
        args = args[1:]
    text = " ".join(args)
    if escapes:
        data, stop = _unescape(text, octal_needs_zero=True)
        if stop:
            inv.write(data)
            return 0
    else:
        data = os.fsencode(text)
    inv.write(data + (b"\n" if newline else b""))
    return 0


_CONVERSION = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfFgGcsb%])")


def printf(inv: Invocation) -> int:
    """The format is reused until the arguments are consumed, as in bash."""
    if not inv.args:
        raise UsageError("usage: printf format [arguments]", 2)
    fmt, args = inv.args[0], inv.args[1:]
    status = 0
    out = bytearray()
    while True:
        used = 0
        pos = 0
        for match in _CONVERSION.finditer(fmt):
            literal, stop = _unescape(fmt[pos:match.start()], octal_needs_zero=False)
            out += literal
            if stop:
                inv.write(bytes(out))
                return status
            pos = match.end()
            flags, width, precision, kind = match.groups()
            if kind == "%":
                out += b"%"
                continue
            sizes = []
            for value in (width, precision):
                if value == "*":
                    value = args[used] if used < len(args) else "0"
                    used += 1
                sizes.append(value)
            spec = "%" + flags + (sizes[0] or "") + ("" if sizes[1] is None else "." + sizes[1])
            argument = args[used] if used < len(args) else None
            used += 1
            if kind in "sb":
                text = argument or ""
                if kind == "b":
                    data, _ = _unescape(text, octal_needs_zero=True)
                    text = os.fsdecode(data)
                out += os.fsencode((spec + "s") % text)
            elif kind == "c":
                out += os.fsencode((spec + "s") % (argument or "")[:1])
            else:
                number: float | int
                try:
                    if kind in "diouxX":
                        raw = argument or "0"
                        number = ord(raw[1]) if raw[:1] in "'\"" and len(raw) > 1 else int(raw, 0)
                    else:
                        number = float(argument or "0")
                except ValueError:
                    inv.error(f"{argument}: invalid number")
                    status, number = 1, 0
                out += os.fsencode((spec + kind.replace("u", "d")) % number)
        literal, stop = _unescape(fmt[pos:], octal_needs_zero=False)
        out += literal
        if stop or used == 0 or used >= len(args):
            break
        args = args[used:]
    inv.write(bytes(out))
    return status


def pwd(inv: Invocation) -> int:
    inv.write(inv.state.cwd + "\n")
    return 0


def true(inv: Invocation) -> int:
    return 0


def false(inv: Invocation) -> int:
    return 1


def sleep(inv: Invocation) -> int:
    """``time.sleep``, so the sandbox's interrupt (KeyboardInterrupt) cuts it."""
    if not inv.args:
        raise UsageError("missing operand")
    total = 0.0
    for arg in inv.args:
        match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", arg)
        if match is None:
            raise UsageError(f"invalid time interval {quote(arg)}")
        total += float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
    time.sleep(total)
    return 0


def env(inv: Invocation) -> int:
    """Print the environment, or run a command with a changed one (``env A=1 cmd``)."""
    args = list(inv.args)
    environment = dict(inv.state.env)
    while args and args[0].startswith("-") and args[0] != "-":
        option = args.pop(0)
        if option in ("-i", "--ignore-environment"):
            environment = {}
        elif option in ("-u", "--unset") and args:
            environment.pop(args.pop(0), None)
        elif option == "--":
            break
        else:
            raise UsageError(f"invalid option -- '{option.lstrip('-')[:1]}'", 125)
    while args and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", args[0]):
        name, _, value = args.pop(0).partition("=")
        environment[name] = value
    if not args:
        inv.write("".join(f"{name}={value}\n" for name, value in environment.items()))
        return 0
    if inv.call is None:
        inv.error("cannot run a command here")
        return 126
    child = inv.state.copy()
    child.env = environment
    return inv.call(Invocation(args, inv.stdin, inv.stdout, inv.stderr, child, inv.call))


def which(inv: Invocation) -> int:
    """There are no program files: a built-in is named as such; others are not found."""
    status = 0
    for name in inv.args:
        if name.startswith("-"):
            continue
        if name in PROGRAMS:
            inv.write(f"{name}: built into the sandbox's shell\n")
        else:
            status = 1
    return status if inv.args else 1


def cd(inv: Invocation) -> int:
    """Changes the shell's directory; the runner applies it to the guest process only when
    asked to (``persistent=True``), since ``!cd`` on a stock kernel runs in a subshell."""
    args = [a for a in inv.args if a not in ("-L", "-P")]
    if len(args) > 1:
        inv.error("too many arguments")
        return 1
    target = args[0] if args else inv.state.env.get("HOME", "")
    if not target:
        inv.error("HOME not set")
        return 1
    if target == "-":
        target = inv.state.env.get("OLDPWD", "")
        if not target:
            inv.error("OLDPWD not set")
            return 1
        inv.write(target + "\n")
    new = os.path.normpath(inv.path(target))
    if not os.path.exists(new):
        inv.error(f"{target}: No such file or directory")
        return 1
    if not os.path.isdir(new):
        inv.error(f"{target}: Not a directory")
        return 1
    inv.state.env["OLDPWD"] = inv.state.cwd
    inv.state.env["PWD"] = new
    inv.state.cwd = new
    inv.state.changed_directory = True
    return 0


def export(inv: Invocation) -> int:
    """Sets variables for the rest of the line (and the guest, when persistent)."""
    for arg in inv.args:
        if arg == "-p":
            continue
        name, equals, value = arg.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            inv.error(f"`{arg}': not a valid identifier")
            return 1
        if equals:
            inv.state.env[name] = value
    if not [a for a in inv.args if a != "-p"]:
        inv.write("".join(f'declare -x {k}="{v}"\n' for k, v in sorted(inv.state.env.items())))
    return 0


def unset(inv: Invocation) -> int:
    for name in inv.args:
        if not name.startswith("-"):
            inv.state.env.pop(name, None)
    return 0


# --- cat, head, tail, wc --------------------------------------------------------------------

_CHUNK = 1 << 16


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    while chunk := source.read(_CHUNK):
        target.write(chunk)


def cat(inv: Invocation) -> int:
    options, names = _parse(inv, "nbAsuE", ["number", "number-nonblank", "show-ends"])
    flags = _flags(options)
    number = bool(flags & {"-n", "--number", "-b", "--number-nonblank"})
    nonblank = bool(flags & {"-b", "--number-nonblank"})
    ends = bool(flags & {"-E", "--show-ends", "-A"})
    status = 0
    line_number = 0
    at_line_start = True
    for name in names or ["-"]:
        try:
            if name != "-" and os.path.isdir(inv.path(name)):
                inv.error(f"{name}: Is a directory")
                status = 1
                continue
            with inv.open_input(name) as stream:
                if not (number or ends):
                    _copy(stream, inv.stdout)
                    continue
                for line in stream:
                    if at_line_start and number and not (nonblank and line == b"\n"):
                        line_number += 1
                        inv.write(f"{line_number:6d}\t")
                    if ends and line.endswith(b"\n"):
                        line = line[:-1] + b"$\n"
                    inv.write(line)
                    at_line_start = line.endswith(b"\n")
        except OSError as error:
            inv.os_error(name, error)
            status = 1
    return status


def _count_option(value: str, name: str, what: str) -> tuple[int, str]:
    """``N``, ``-N`` (head: all but the last N) or ``+N`` (tail: from N) with a K/M suffix."""
    match = re.fullmatch(r"([+-]?)(\d+)([bkKmMgG]?)", value)
    if match is None:
        raise UsageError(f"invalid number of {what}: {quote(value)}")
    multiplier = {"": 1, "b": 512, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20,
                  "g": 1 << 30, "G": 1 << 30}[match[3]]
    return int(match[2]) * multiplier, match[1]


def _head_tail(inv: Invocation, head: bool) -> int:
    args: list[str] = []
    for arg in inv.args:  # the old `head -5` form, unless it is the value of -n/-c
        legacy = re.fullmatch(r"-\d+", arg) and not (args and args[-1] in ("-n", "-c"))
        args.append("-n" + arg[1:] if legacy else arg)
    options, names = _parse(inv, "n:c:qvf", ["lines=", "bytes=", "quiet", "silent",
                                              "verbose", "follow"], args=args)
    count, sign, by_bytes = 10, "", False
    verbose: bool | None = None
    for option, value in options:
        if option in ("-n", "--lines", "-c", "--bytes"):
            by_bytes = option in ("-c", "--bytes")
            count, sign = _count_option(value, inv.name, "bytes" if by_bytes else "lines")
        elif option in ("-q", "--quiet", "--silent"):
            verbose = False
        elif option in ("-v", "--verbose"):
            verbose = True
        elif option in ("-f", "--follow"):
            inv.error("following a file (-f) is not supported in the sandbox yet")
            return 1
    names = names or ["-"]
    show = verbose if verbose is not None else len(names) > 1
    status = 0
    for index, name in enumerate(names):
        try:
            with inv.open_input(name) as stream:
                if show:
                    shown = "standard input" if name == "-" else name
                    inv.write(("\n" if index else "") + f"==> {shown} <==\n")
                inv.write(_head(stream, count, sign, by_bytes) if head
                          else _tail(stream, count, sign, by_bytes))
        except IsADirectoryError:
            inv.error(f"error reading {quote(name)}: Is a directory")
            status = 1
        except OSError as error:
            inv.os_error(f"cannot open {quote(name)} for reading", error)
            status = 1
    return status


def _head(stream: BinaryIO, count: int, sign: str, by_bytes: bool) -> bytes:
    """The first ``count`` lines or bytes, reading no further (``head`` of a large file)."""
    if sign == "-":
        data = stream.read()
        if by_bytes:
            return data[:max(len(data) - count, 0)]
        lines = data.splitlines(keepends=True)
        return b"".join(lines[:max(len(lines) - count, 0)])
    if by_bytes:
        return stream.read(count)
    out = []
    for _ in range(count):
        line = stream.readline()
        if not line:
            break
        out.append(line)
    return b"".join(out)


def _tail(stream: BinaryIO, count: int, sign: str, by_bytes: bool) -> bytes:
    data = stream.read()
    if by_bytes:
        return data[max(count - 1, 0):] if sign == "+" else data[len(data) - count:] if count \
            else b""
    lines = data.splitlines(keepends=True)
    if sign == "+":
        return b"".join(lines[max(count - 1, 0):])
    return b"".join(lines[len(lines) - count:]) if count else b""


def head(inv: Invocation) -> int:
    return _head_tail(inv, head=True)


def tail(inv: Invocation) -> int:
    return _head_tail(inv, head=False)


def wc(inv: Invocation) -> int:
    """Counts as GNU wc: the column width is that of the largest number a regular file's size
    allows, 7 when stdin is read, no padding for one count of one input."""
    options, names = _parse(inv, "lwcmL", ["lines", "words", "bytes", "chars"])
    flags = _flags(options)
    wanted = [flag for flag, longs in (("l", "--lines"), ("w", "--words"), ("m", "--chars"),
                                       ("c", "--bytes"))
              if f"-{flag}" in flags or longs in flags]
    if not wanted:
        wanted = ["l", "w", "c"]
    rows: list[tuple[list[int], str | None]] = []
    status = 0
    size_width = 0
    from_stream = False
    for name in names or ["-"]:
        try:
            if name != "-" and os.path.isdir(inv.path(name)):
                inv.error(f"{name}: Is a directory")
                rows.append(([0] * len(wanted), name))
                status = 1
                continue
            with inv.open_input(name) as stream:
                if name == "-":
                    from_stream = True
                else:
                    info = os.stat(inv.path(name))
                    if stat.S_ISREG(info.st_mode):
                        size_width += info.st_size
                    else:
                        from_stream = True
                data = stream.read()
        except OSError as error:
            inv.os_error(name, error)
            status = 1
            continue
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data),
                  "m": len(data.decode("utf-8", "replace"))}
        rows.append(([counts[k] for k in wanted], None if name == "-" and not names else name))
    if len(rows) > 1:
        rows.append(([sum(r[0][i] for r in rows) for i in range(len(wanted))], "total"))
    width = len(str(size_width)) if size_width else 1
    if from_stream:
        width = max(width, 7)
    if len(wanted) == 1 and len(rows) == 1:
        width = 1
    for values, label in rows:
        line = " ".join(f"{v:{width}d}" for v in values)
        inv.write(line + (f" {label}" if label is not None else "") + "\n")
    return status


# --- grep -----------------------------------------------------------------------------------

def _basic_to_python(pattern: str) -> str:
    """A POSIX basic regular expression in Python's syntax: ``\\(``, ``\\|``, ``\\{``, ``\\+``,
    ``\\?`` are the operators, and bare ``( ) | { } + ?`` are literal characters."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "(){}|+?" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + c if c in "(){}|+?" else c)
        i += 1
    return "".join(out)


def grep(inv: Invocation) -> int:
    options, operands = _parse(
        inv, "ivncrRlLEFGPwxoqshHe:", ["ignore-case", "invert-match", "line-number", "count",
                                       "recursive", "files-with-matches", "extended-regexp",
                                       "fixed-strings", "word-regexp", "line-regexp",
                                       "only-matching", "quiet", "silent", "no-messages",
                                       "no-filename", "with-filename", "regexp="], status=2)
    flags = _flags(options)
    patterns = [value for option, value in options if option in ("-e", "--regexp")]
    if not patterns:
        if not operands:
            raise UsageError("usage: grep [OPTION]... PATTERNS [FILE]...", 2)
        patterns = operands.pop(0).split("\n")

    def has(*names: str) -> bool:
        return bool(flags & set(names))

    sources = []
    for pattern in patterns:
        if has("-F", "--fixed-strings"):
            source = re.escape(pattern)
        elif has("-E", "--extended-regexp", "-P"):
            source = pattern
        else:
            source = _basic_to_python(pattern)
        if has("-w", "--word-regexp"):
            source = rf"(?<!\w)(?:{source})(?!\w)"
        if has("-x", "--line-regexp"):
            source = rf"(?:{source})\Z"
        sources.append(f"(?:{source})")
    try:
        regex = re.compile(os.fsencode("|".join(sources)),
                           re.IGNORECASE if has("-i", "--ignore-case") else 0)
    except re.error as error:
        inv.error(f"invalid regular expression: {error}")
        return 2
    recursive = has("-r", "-R", "--recursive")
    names = operands or (["."] if recursive else ["-"])
    files: list[str] = []
    status = 1
    quiet_errors = has("-s", "--no-messages")
    for name in names:
        if recursive and name != "-" and os.path.isdir(inv.path(name)):
            files.extend(_walk_files(inv, name, omit_dot=not operands))
        else:
            files.append(name)
    show_names = (len(files) > 1 or recursive) and not has("-h", "--no-filename")
    show_names = show_names or has("-H", "--with-filename")
    errors = False
    for name in files:
        try:
            if name != "-" and os.path.isdir(inv.path(name)):
                if not quiet_errors:
                    inv.error(f"{name}: Is a directory")
                errors = True
                continue
            with inv.open_input(name) as stream:
                data = stream.read()
        except OSError as error:
            if not quiet_errors:
                inv.os_error(name, error)
            errors = True
            continue
        shown = "(standard input)" if name == "-" else name
        found = _grep_data(inv, regex, data, shown, show_names, has)
        if found:
            status = 0
            if has("-q", "--quiet", "--silent"):
                return 0
    return 2 if errors and not (status == 0 and has("-q", "--quiet", "--silent")) else status


def _walk_files(inv: Invocation, top: str, omit_dot: bool) -> list[str]:
    found = []
    for folder, dirs, filenames in os.walk(inv.path(top)):
        dirs.sort(key=os.fsencode)
        relative = os.path.relpath(folder, inv.path(top))
        for filename in sorted(filenames, key=os.fsencode):
            parts = [] if omit_dot and top == "." else [top.rstrip("/") or "/"]
            if relative != ".":
                parts.append(relative)
            found.append(os.path.join(*parts, filename))
    return found


def _grep_data(inv: Invocation, regex: re.Pattern[bytes], data: bytes, shown: str,
               show_names: bool, has: Callable[..., bool]) -> bool:
    """Print the matches of one input as grep does; True when any line matched."""
    invert = has("-v", "--invert-match")
    lines = data.splitlines(keepends=False) if data else []
    prefix = os.fsencode(shown) + b":" if show_names else b""
    binary = b"\0" in data
    count = 0
    out = bytearray()
    for number, line in enumerate(lines, 1):
        matched = regex.search(line) is not None
        if matched == invert:
            continue
        count += 1
        if has("-q", "--quiet", "--silent", "-l", "--files-with-matches", "-L", "-c", "--count"):
            continue
        if binary:
            continue
        line_prefix = prefix + (f"{number}:".encode() if has("-n", "--line-number") else b"")
        if has("-o", "--only-matching") and not invert:
            for match in regex.finditer(line):
                if match.group():
                    out += line_prefix + match.group() + b"\n"
        else:
            out += line_prefix + line + b"\n"
    if has("-q", "--quiet", "--silent"):
        return count > 0
    if has("-l", "--files-with-matches"):
        if count:
            inv.write(os.fsencode(shown) + b"\n")
    elif has("-L"):
        if not count:
            inv.write(os.fsencode(shown) + b"\n")
    elif has("-c", "--count"):
        inv.write(prefix + f"{count}\n".encode())
    elif binary and count:
        inv.error(f"{shown}: binary file matches")  # GNU grep 3.5+: on stderr, status 0
    else:
        inv.write(bytes(out))
    return count > 0


# --- ls -------------------------------------------------------------------------------------

def _human(size: float) -> str:
    """GNU ``-h``: powers of 1024, rounded up, one decimal below 10 (``4.0K``, ``12M``)."""
    if size < 1024:
        return str(int(size))
    for unit in "KMGTPE":
        size /= 1024
        if size < 10:
            value = math.ceil(size * 10) / 10
            if value < 10:
                return f"{value:.1f}{unit}"
            size = value
        if math.ceil(size) < 1024:
            return f"{math.ceil(size)}{unit}"
    return f"{math.ceil(size)}Z"


def _mode_string(mode: int) -> str:
    """``-rw-r--r--``. WASI reports no permission bits (every mode reads ``----------``), so
    files then show as read-write and folders as searchable: what the sandbox lets one do."""
    if not mode & 0o7777:
        mode |= 0o755 if stat.S_ISDIR(mode) else 0o644
    return stat.filemode(mode)


def _owner(uid: int, group: bool) -> str:
    try:
        if group:
            import grp
            return grp.getgrgid(uid).gr_name
        import pwd as pwd_module
        return pwd_module.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _blocks(info: os.stat_result) -> int:
    """1 KiB blocks (``total`` of ``ls -l``); WASI reports no block count, so a 4 KiB block
    file system is assumed."""
    blocks = getattr(info, "st_blocks", None)
    if blocks is not None:
        return int(math.ceil(blocks / 2))
    return int(math.ceil(info.st_size / 4096) * 4)


class _Lister:
    def __init__(self, inv: Invocation, flags: set[str]) -> None:
        self.inv = inv
        self.long = "-l" in flags
        self.all = "-a" in flags or "--all" in flags
        self.almost_all = "-A" in flags or "--almost-all"in flags
        self.human = "-h" in flags or "--human-readable" in flags
        self.recursive = "-R" in flags or "--recursive" in flags
        self.directory = "-d" in flags or "--directory" in flags
        self.reverse = "-r" in flags or "--reverse" in flags
        self.by_time = "-t" in flags
        self.by_size = "-S" in flags
        self.classify = "-F" in flags or "--classify" in flags
        self.status = 0
        self.now = time.time()

    def sort(self, entries: list[tuple[str, os.stat_result]]) -> list[tuple[str,
                                                                           os.stat_result]]:
        entries.sort(key=lambda e: os.fsencode(e[0]))
        if self.by_size:
            entries.sort(key=lambda e: -e[1].st_size)
        elif self.by_time:
            entries.sort(key=lambda e: -e[1].st_mtime_ns)
        if self.reverse:
            entries.reverse()
        return entries

    def suffix(self, mode: int) -> str:
        if not self.classify:
            return ""
        if stat.S_ISDIR(mode):
            return "/"
        if stat.S_ISLNK(mode):
            return "@"
        if mode & 0o111:
            return "*"
        return ""

    def render(self, entries: list[tuple[str, os.stat_result]], folder: str | None) -> bytes:
        if not self.long:
            return b"".join(os.fsencode(name + self.suffix(info.st_mode)) + b"\n"
                            for name, info in entries)
        rows = []
        for name, info in entries:
            size = _human(info.st_size) if self.human else str(info.st_size)
            age = self.now - info.st_mtime
            when = time.strftime("%b %e %H:%M" if 0 <= age < 15_778_476 or -60 < age < 0
                                 else "%b %e  %Y", time.localtime(info.st_mtime))
            shown = name + self.suffix(info.st_mode)
            if stat.S_ISLNK(info.st_mode) and folder is not None:
                try:
                    shown += " -> " + os.readlink(os.path.join(folder, name))
                except OSError as error:
                    self.inv.os_error(f"cannot read symbolic link {quote(name)}", error)
            elif stat.S_ISLNK(info.st_mode):
                try:
                    shown += " -> " + os.readlink(self.inv.path(name))
                except OSError as error:
                    self.inv.os_error(f"cannot read symbolic link {quote(name)}", error)
            rows.append((_mode_string(info.st_mode), str(info.st_nlink),
                         _owner(info.st_uid, False), _owner(info.st_gid, True), size, when,
                         shown))
        widths = [max((len(row[i]) for row in rows), default=0) for i in range(5)]
        out = []
        for row in rows:
            out.append(f"{row[0]} {row[1]:>{widths[1]}} {row[2]:<{widths[2]}} "
                       f"{row[3]:<{widths[3]}} {row[4]:>{widths[4]}} {row[5]} {row[6]}\n")
        return os.fsencode("".join(out))

    def list_folder(self, shown: str, path: str, header: bool, first: bool) -> None:
        inv = self.inv
        try:
            names = os.listdir(path)
        except OSError as error:
            inv.os_error(f"cannot open directory {quote(shown)}", error)
            self.status = 2
            return
        if not (self.all or self.almost_all):
            names = [n for n in names if not n.startswith(".")]
        entries = []
        for name in names:
            try:
                entries.append((name, os.lstat(os.path.join(path, name))))
            except OSError as error:
                inv.os_error(f"cannot access {quote(os.path.join(shown, name))}", error)
                self.status = 1
        if self.all:
            for dot in (".", ".."):
                entries.append((dot, os.stat(os.path.join(path, dot))))
        entries = self.sort(entries)
        if header:
            inv.write(("" if first else "\n") + f"{shown}:\n")
        if self.long:
            total = sum(_blocks(info) for _, info in entries)
            inv.write(f"total {_human(total * 1024) if self.human else total}\n")
        inv.write(self.render(entries, path))
        if self.recursive:
            for name, info in entries:
                if stat.S_ISDIR(info.st_mode) and name not in (".", ".."):
                    child = shown.rstrip("/") + "/" + name if shown != "/" else "/" + name
                    self.list_folder(child, os.path.join(path, name), True, False)


def ls(inv: Invocation) -> int:
    options, names = _parse(inv, "laA1hRdrtSF", ["all", "almost-all", "human-readable",
                                                 "recursive", "directory", "reverse",
                                                 "classify"], status=2)
    lister = _Lister(inv, _flags(options))
    files: list[tuple[str, os.stat_result]] = []
    folders: list[tuple[str, os.stat_result]] = []
    for name in names or ["."]:
        try:
            info = os.stat(inv.path(name))
        except FileNotFoundError:
            try:
                info = os.lstat(inv.path(name))  # a dangling symbolic link
            except OSError as error:
                inv.os_error(f"cannot access {quote(name)}", error)
                lister.status = 2
                continue
        except OSError as error:
            inv.os_error(f"cannot access {quote(name)}", error)
            lister.status = 2
            continue
        if stat.S_ISDIR(info.st_mode) and not lister.directory:
            folders.append((name, info))
        else:
            if lister.long:
                info = os.lstat(inv.path(name))
            files.append((name, info))
    files = lister.sort(files)
    folders = lister.sort(folders)
    if files:
        inv.write(lister.render(files, None))
    header = len(files) + len(folders) > 1 or lister.recursive or lister.status != 0
    for index, (name, _) in enumerate(folders):
        lister.list_folder(name, inv.path(name), header, first=index == 0 and not files)
    return lister.status


# --- mkdir, rm, cp, mv, touch ---------------------------------------------------------------

def mkdir(inv: Invocation) -> int:
    options, names = _parse(inv, "pvm:", ["parents", "verbose", "mode="])
    flags = _flags(options)
    parents = bool(flags & {"-p", "--parents"})
    if not names:
        raise UsageError("missing operand")
    status = 0
    for name in names:
        try:
            if parents:
                os.makedirs(inv.path(name), exist_ok=True)
            else:
                os.mkdir(inv.path(name))
        except OSError as error:
            inv.os_error(f"cannot create directory {quote(name)}", error)
            status = 1
    return status


def rm(inv: Invocation) -> int:
    options, names = _parse(inv, "rRfdiv", ["recursive", "force", "dir", "verbose"])
    flags = _flags(options)
    recursive = bool(flags & {"-r", "-R", "--recursive"})
    force = bool(flags & {"-f", "--force"})
    if not names and not force:
        raise UsageError("missing operand")
    status = 0
    for name in names:
        path = inv.path(name)
        if os.path.basename(name.rstrip("/")) in (".", ".."):
            inv.error(f"refusing to remove '.' or '..' directory: skipping {quote(name)}")
            status = 1
            continue
        if recursive and os.path.realpath(path) == "/":
            inv.error("it is dangerous to operate recursively on '/'")
            status = 1
            continue
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                if recursive:
                    shutil.rmtree(path)
                elif flags & {"-d", "--dir"}:
                    os.rmdir(path)
                else:
                    inv.error(f"cannot remove {quote(name)}: Is a directory")
                    status = 1
            else:
                os.remove(path)
        except FileNotFoundError as error:
            if not force:
                inv.os_error(f"cannot remove {quote(name)}", error)
                status = 1
        except OSError as error:
            inv.os_error(f"cannot remove {quote(name)}", error)
            status = 1
    return status


def _copy_or_move(inv: Invocation, move: bool) -> int:
    options, names = _parse(inv, "rRapfnvTi" if not move else "fnvTi",
                            ["recursive", "archive", "force", "no-clobber", "verbose"])
    flags = _flags(options)
    recursive = move or bool(flags & {"-r", "-R", "--recursive", "-a", "--archive"})
    no_clobber = bool(flags & {"-n", "--no-clobber"})
    if not names:
        raise UsageError("missing file operand")
    if len(names) == 1:
        raise UsageError(f"missing destination file operand after {quote(names[0])}")
    *sources, target = names
    target_path = inv.path(target)
    into = os.path.isdir(target_path)
    if len(sources) > 1 and not into:
        inv.error(f"target {quote(target)} is not a directory")
        return 1
    status = 0
    for source in sources:
        source_path = inv.path(source)
        destination = (os.path.join(target_path, os.path.basename(source.rstrip("/")))
                       if into else target_path)
        if not os.path.lexists(source_path):
            inv.error(f"cannot stat {quote(source)}: No such file or directory")
            status = 1
            continue
        if os.path.exists(destination) and os.path.samefile(source_path, destination):
            inv.error(f"{quote(source)} and {quote(target)} are the same file")
            status = 1
            continue
        if no_clobber and os.path.lexists(destination):
            continue
        try:
            if move:
                if os.path.isdir(destination) and not os.path.isdir(source_path):
                    inv.error(f"cannot overwrite directory {quote(destination)} with "
                              "non-directory")
                    status = 1
                    continue
                os.replace(source_path, destination) if not os.path.isdir(destination) \
                    else shutil.move(source_path, destination)
            elif os.path.isdir(source_path):
                if not recursive:
                    inv.error(f"-r not specified; omitting directory {quote(source)}")
                    status = 1
                    continue
                if os.path.realpath(destination).startswith(os.path.realpath(source_path)
                                                            + os.sep):
                    inv.error(f"cannot copy a directory, {quote(source)}, into itself, "
                              f"{quote(destination)}")
                    status = 1
                    continue
                shutil.copytree(source_path, destination, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(source_path, destination)
        except OSError as error:
            if move and error.errno == 18:  # EXDEV: across mounts
                shutil.move(source_path, destination)
                continue
            inv.os_error(f"cannot {'move' if move else 'create regular file'} "
                         f"{quote(destination)}", error)
            status = 1
    return status


def cp(inv: Invocation) -> int:
    return _copy_or_move(inv, move=False)


def mv(inv: Invocation) -> int:
    return _copy_or_move(inv, move=True)


def touch(inv: Invocation) -> int:
    options, names = _parse(inv, "cam", ["no-create"])
    no_create = bool(_flags(options) & {"-c", "--no-create"})
    if not names:
        raise UsageError("missing file operand")
    status = 0
    for name in names:
        path = inv.path(name)
        try:
            if os.path.exists(path):
                os.utime(path)
            elif not no_create:
                with open(path, "ab"):
                    pass
        except OSError as error:
            inv.os_error(f"cannot touch {quote(name)}", error)
            status = 1
    return status


# --- sort, uniq, cut, tee, basename, dirname, seq -------------------------------------------

def _read_all(inv: Invocation, names: list[str]) -> tuple[bytes, int]:
    chunks = []
    status = 0
    for name in names or ["-"]:
        try:
            with inv.open_input(name) as stream:
                data = stream.read()
                if data and not data.endswith(b"\n"):
                    data += b"\n"
                chunks.append(data)
        except OSError as error:
            inv.os_error(name if inv.name != "sort" else f"cannot read: {name}", error)
            status = 2 if inv.name == "sort" else 1
    return b"".join(chunks), status


_NUMBER = re.compile(rb"\s*(-?\d*\.?\d+)")


def sort(inv: Invocation) -> int:
    """Byte order as in the C locale; ``-n`` compares leading numbers, ties by whole line."""
    options, names = _parse(inv, "rnufk:t:s", ["reverse", "numeric-sort", "unique",
                                               "ignore-case", "key=", "field-separator="],
                            status=2)
    flags = _flags(options)
    key_field: int | None = None
    separator: bytes | None = None
    for option, value in options:
        if option in ("-k", "--key"):
            match = re.match(r"(\d+)", value)
            if match is None:
                raise UsageError(f"invalid number at field start: invalid count at start of "
                                 f"{quote(value)}", 2)
            key_field = int(match[1])
        elif option in ("-t", "--field-separator"):
            separator = os.fsencode(value)
    data, status = _read_all(inv, names)
    lines = data.splitlines()

    def field_of(line: bytes) -> bytes:
        if key_field is None:
            return line
        parts = line.split(separator) if separator is not None else line.split()
        if separator is None:
            return b" ".join(parts[key_field - 1:])
        return separator.join(parts[key_field - 1:])

    fold = bool(flags & {"-f", "--ignore-case"})
    numeric = bool(flags & {"-n", "--numeric-sort"})

    def key(line: bytes) -> tuple[float, bytes, bytes]:
        text = field_of(line)
        number = 0.0
        if numeric:
            match = _NUMBER.match(text)
            number = float(match[1]) if match else 0.0
            text = b""
        return number, text.upper() if fold else text, line

    lines.sort(key=key, reverse=bool(flags & {"-r", "--reverse"}))
    if flags & {"-u", "--unique"}:
        unique: list[bytes] = []
        for line in lines:
            if not unique or key(unique[-1])[:2] != key(line)[:2]:
                unique.append(line)
        lines = unique
    inv.write(b"".join(line + b"\n" for line in lines))
    return status


def uniq(inv: Invocation) -> int:
    options, names = _parse(inv, "cdui", ["count", "repeated", "unique", "ignore-case"])
    flags = _flags(options)
    data, status = _read_all(inv, names[:1])
    groups: list[list[bytes]] = []
    fold = bool(flags & {"-i", "--ignore-case"})
    for line in data.splitlines():
        if groups and (groups[-1][0].lower() == line.lower() if fold else groups[-1][0] == line):
            groups[-1].append(line)
        else:
            groups.append([line])
    out = bytearray()
    for group in groups:
        if flags & {"-d", "--repeated"} and len(group) < 2:
            continue
        if flags & {"-u", "--unique"} and len(group) > 1:
            continue
        if flags & {"-c", "--count"}:
            out += f"{len(group):7d} ".encode()
        out += group[0] + b"\n"
    if len(names) > 1:
        with open(inv.path(names[1]), "wb") as target:
            target.write(bytes(out))
    else:
        inv.write(bytes(out))
    return status


def _ranges(spec: str) -> list[tuple[int, int]]:
    ranges = []
    for piece in spec.split(","):
        match = re.fullmatch(r"(\d*)(-?)(\d*)", piece)
        if match is None or not (match[1] or match[3]) or piece == "-":
            raise UsageError(f"invalid field range: {quote(piece)}")
        start = int(match[1]) if match[1] else 1
        end = (int(match[3]) if match[3] else sys.maxsize) if match[2] else start
        if start == 0:
            raise UsageError("fields and positions are numbered from 1")
        ranges.append((start, end))
    return ranges


def cut(inv: Invocation) -> int:
    options, names = _parse(inv, "d:f:c:b:s", ["delimiter=", "fields=", "characters=",
                                               "bytes=", "only-delimited"])
    delimiter = b"\t"
    fields: list[tuple[int, int]] | None = None
    characters: list[tuple[int, int]] | None = None
    only_delimited = False
    for option, value in options:
        if option in ("-d", "--delimiter"):
            if len(os.fsencode(value)) != 1:
                raise UsageError("the delimiter must be a single character")
            delimiter = os.fsencode(value)
        elif option in ("-f", "--fields"):
            fields = _ranges(value)
        elif option in ("-c", "--characters", "-b", "--bytes"):
            characters = _ranges(value)
        elif option in ("-s", "--only-delimited"):
            only_delimited = True
    if fields is None and characters is None:
        raise UsageError("you must specify a list of bytes, characters, or fields")

    def selected(count: int, ranges: list[tuple[int, int]]) -> list[int]:
        return [i for i in range(count) if any(a <= i + 1 <= b for a, b in ranges)]

    data, status = _read_all(inv, names)
    out = bytearray()
    for line in data.splitlines():
        if characters is not None:
            out += bytes(line[i] for i in selected(len(line), characters)) + b"\n"
            continue
        if fields is None:
            continue
        if delimiter not in line:
            if not only_delimited:
                out += line + b"\n"
            continue
        parts = line.split(delimiter)
        out += delimiter.join(parts[i] for i in selected(len(parts), fields)) + b"\n"
    inv.write(bytes(out))
    return status


def tee(inv: Invocation) -> int:
    options, names = _parse(inv, "a", ["append"])
    mode = "ab" if _flags(options) else "wb"
    status = 0
    targets = []
    for name in names:
        try:
            targets.append(open(inv.path(name), mode))
        except OSError as error:
            inv.os_error(name, error)
            status = 1
    try:
        while chunk := inv.stdin.read(_CHUNK):
            inv.write(chunk)
            for target in targets:
                target.write(chunk)
    finally:
        for target in targets:
            target.close()
    return status


def basename(inv: Invocation) -> int:
    if not inv.args:
        raise UsageError("missing operand")
    name = os.path.basename(inv.args[0].rstrip("/")) or "/"
    if len(inv.args) > 1 and name.endswith(inv.args[1]) and name != inv.args[1]:
        name = name[:-len(inv.args[1])]
    inv.write(name + "\n")
    return 0


def dirname(inv: Invocation) -> int:
    if not inv.args:
        raise UsageError("missing operand")
    for arg in inv.args:
        stripped = arg.rstrip("/") or "/"
        inv.write((os.path.dirname(stripped).rstrip("/") or ("/" if stripped.startswith("/")
                                                             else ".")) + "\n")
    return 0


def seq(inv: Invocation) -> int:
    numbers = []
    for arg in inv.args:
        try:
            numbers.append(int(arg))
        except ValueError:
            raise UsageError(f"invalid floating point argument: {quote(arg)}") from None
    if not 1 <= len(numbers) <= 3:
        raise UsageError("missing operand" if not numbers else f"extra operand "
                         f"{quote(inv.args[3])}")
    first, step, last = (1, 1, numbers[0]) if len(numbers) == 1 else (
        (numbers[0], 1, numbers[1]) if len(numbers) == 2 else tuple(numbers))
    if step == 0:
        raise UsageError("invalid Zero increment value: '0'")
    inv.write("".join(f"{n}\n" for n in range(first, last + (1 if step > 0 else -1), step)))
    return 0


PROGRAMS: dict[str, Program] = {
    ":": true, "basename": basename, "cat": cat, "cd": cd, "cp": cp, "cut": cut,
    "dirname": dirname, "echo": echo, "env": env, "export": export, "false": false,
    "grep": grep, "head": head, "ls": ls, "mkdir": mkdir, "mv": mv, "printf": printf,
    "pwd": pwd, "rm": rm, "seq": seq, "sleep": sleep, "sort": sort, "tail": tail, "tee": tee,
    "touch": touch, "true": true, "uniq": uniq, "unset": unset, "wc": wc, "which": which,
}

_BIN_FOLDERS = ("/bin", "/usr/bin", "/usr/local/bin")


#: Names not shown in the not-found message: aliases of listed programs.
_UNLISTED = frozenset({":", "python3.15", "python.wasm", "pip3", "nodejs"})


def not_found_message(name: str) -> str:
    """Says what the sandbox can run instead, since no program files exist in it."""
    names = ", ".join(sorted(n for n in PROGRAMS if n not in _UNLISTED))
    return (f"{name}: command not found in the sandbox (it can run: {names}; no host "
            "programs)\n")


def _lookup(name: str) -> Program | None:
    program = PROGRAMS.get(name)
    if program is None and os.path.dirname(name) in _BIN_FOLDERS:
        program = PROGRAMS.get(os.path.basename(name))  # /bin/ls, /usr/bin/env
    return program


def dispatch(inv: Invocation) -> int:
    """Run ``inv.argv[0]``: 127 with the list of programs for an unknown name; a usage error
    or an unexpected OSError becomes its message and status, as a program would exit."""
    program = _lookup(inv.name)
    if program is None:
        inv.stderr.write(os.fsencode(not_found_message(inv.name)))
        return 127
    if inv.call is None:
        inv.call = dispatch
    try:
        return program(inv)
    except UsageError as error:
        inv.error(str(error))
        if not str(error).startswith("usage:"):
            inv.stderr.write(os.fsencode(f"Try '{inv.name} --help' for more information.\n"))
        return error.status
    except OSError as error:
        inv.error(error.strerror or str(error))
        return 1


def names(programs: Iterable[str] = PROGRAMS) -> list[str]:
    """The program names, sorted (for listings)."""
    return sorted(programs)
