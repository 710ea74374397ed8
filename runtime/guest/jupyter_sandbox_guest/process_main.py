"""The entry point of a sandbox process (the guest side of ``runtime/processes/``).

A process is a guest instance restored from the machine's base image, so it starts as a copy
of a fresh notebook guest: IPython loaded, ``sys.stdout`` sending Jupyter messages, SIGINT
asking the host what it means. ``prepare()`` (run once, before the instance is handed a
program, so a start does not pay for it) makes it an ordinary process instead: standard
streams over fd 0/1/2 (the host's pipes), the default SIGINT handler (KeyboardInterrupt), the
real ``time.sleep``, ``input`` reading stdin, ``os._exit`` ending the process. ``main()`` asks
the host what to run (``process_start``), runs it, and reports the exit status
(``process_exit``) as CPython would compute it: ``sys.exit`` codes, 1 with the traceback on
stderr for an uncaught exception, -2 (killed by SIGINT) after an uncaught KeyboardInterrupt.

Programs: ``python`` (``-c``, ``-m``, a script path, ``-`` or no argument: the source from
stdin), ``pip`` (``install``/``uninstall``/``list``/``freeze``/``show``/``--version``, done
by the host's ``%pip`` machinery) and ``command`` (a built-in command or ``sh -c LINE``, run by
:mod:`.commands`).
"""

from __future__ import annotations

import builtins
import io
import os
import sys
import types
from typing import Any

from . import bridge

_PYTHON_FLAGS = frozenset("bBdEhiIOPqsSuvRx")
#: The frames of these files are not shown in a process's traceback (CPython shows none of
#: its own start-up code either).
_HIDDEN_FILES: set[str] = set()


def _stream(fd: int, mode: str) -> Any:
    raw = io.FileIO(fd, mode, closefd=False)
    if mode == "r":
        return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="strict")
    errors = "backslashreplace" if fd == 2 else "strict"
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", errors=errors,
                            line_buffering=fd == 2)


def _input(prompt: object = "") -> str:
    if prompt:
        sys.stdout.write(str(prompt))
        sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise EOFError("EOF when reading a line")
    return line.rstrip("\n")


def _getpass(prompt: str = "Password: ", stream: Any = None) -> str:
    return _input(prompt)


def prepare() -> None:
    """Turn the restored notebook guest into a plain process (see the module)."""
    import getpass
    import posix
    import runpy
    import signal
    import time
    import traceback  # noqa: F401

    from . import environment, os_commands

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: None)
    time.sleep = environment._real_sleep
    builtins.input = _input
    getpass.getpass = _getpass
    os._exit = posix._exit
    sys.stdin, sys.stdout, sys.stderr = _stream(0, "r"), _stream(1, "w"), _stream(2, "w")
    for name in ("stdin", "stdout", "stderr"):
        setattr(sys, f"__{name}__", getattr(sys, name))
    os_commands._cell_streams.update(stdout=sys.stdout, stderr=sys.stderr)
    _HIDDEN_FILES.update({__file__, runpy.__file__})


def main() -> None:
    """Run the program the host names and report its exit status."""
    try:
        spec = bridge.call("process_start")
        os.environ.clear()
        os.environ.update(spec.get("env") or {})
        try:
            os.chdir(spec.get("cwd") or "/")
        except OSError as error:
            sys.stderr.write(f"cannot enter the working directory: {error}\n")
        import random

        random.seed()  # fresh entropy: every process starts from the same image
        argv = [str(a) for a in spec.get("argv") or ["python"]]
        status = _run(spec.get("kind"), argv)
    except KeyboardInterrupt as exc:  # interrupted before the program itself began
        _print_exception(exc)
        status = -2
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # the reader is gone (a closed pipe): nothing left to tell it
    bridge.call("process_exit", status=status)


def _run(kind: object, argv: list[str]) -> int:
    try:
        if kind == "python":
            _python(argv)
        elif kind == "pip":
            return _pip(argv[1:])
        else:
            return _command(argv)
    except SystemExit as exc:
        return _exit_status(exc.code)
    except KeyboardInterrupt as exc:
        _print_exception(exc)
        return -2
    except BaseException as exc:  # noqa: BLE001 - an uncaught exception, as CPython reports it
        _print_exception(exc)
        return 1
    return 0


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        sys.stderr.write(f"{code}\n")
    except (OSError, ValueError):
        pass
    return 1


def _print_exception(exc: BaseException) -> None:
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _HIDDEN_FILES:
        tb = tb.tb_next
    try:
        sys.stdout.flush()
        traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


# -- python ---------------------------------------------------------------------------------
def _fresh_main(file: str | None) -> dict[str, Any]:
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    if file is not None:
        module.__file__ = file
    sys.modules["__main__"] = module
    return module.__dict__


def _unbuffered() -> None:
    """``-u`` / ``PYTHONUNBUFFERED``: stdout and stderr written through at once."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = getattr(sys, name)
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
        unbuffered = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False),
                                      encoding="utf-8", write_through=True,
                                      errors="backslashreplace" if fd == 2 else "strict")
        setattr(sys, name, unbuffered)
        setattr(sys, f"__{name}__", unbuffered)


def _python(argv: list[str]) -> None:
    import runpy

    args = argv[1:]
    flags = "".join(a[1:] for a in args[:next((i for i, a in enumerate(args)
                                               if not a.startswith("-") or a in ("-c", "-m")),
                                              len(args))] if not a.startswith("--"))
    if "u" in flags or os.environ.get("PYTHONUNBUFFERED"):
        _unbuffered()
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "-c":
            if index + 1 >= len(args):
                raise SystemExit("Argument expected for the -c option")
            sys.argv = ["-c", *args[index + 2:]]
            namespace = _fresh_main(None)
            exec(compile(args[index + 1], "<string>", "exec"), namespace)
            return
        if arg == "-m":
            if index + 1 >= len(args):
                raise SystemExit("Argument expected for the -m option")
            sys.argv = [args[index + 1], *args[index + 2:]]
            if "" not in sys.path:
                sys.path.insert(0, "")
            runpy.run_module(args[index + 1], run_name="__main__", alter_sys=True)
            return
        if arg in ("-V", "--version"):
            print(f"Python {sys.version.split()[0]}")
            return
        if arg in ("-W", "-X"):
            index += 2
            continue
        if arg.startswith("-c") and len(arg) > 2:  # -c'code'
            args[index:index + 1] = ["-c", arg[2:]]
            continue
        if arg.startswith("-m") and len(arg) > 2:
            args[index:index + 1] = ["-m", arg[2:]]
            continue
        if arg == "-":
            sys.argv = ["-", *args[index + 1:]]
            _source_from_stdin()
            return
        if arg.startswith("-") and len(arg) > 1 and (set(arg[1:]) <= _PYTHON_FLAGS
                                                     or arg.startswith(("-W", "-X"))):
            index += 1
            continue
        if arg.startswith("-"):
            raise SystemExit(f"Unknown option: {arg}\nusage: python [option] ... [-c cmd | "
                             "-m mod | file | -] [arg] ...")
        _script(args[index], args[index + 1:])
        return
    sys.argv = [""]
    _source_from_stdin()


def _source_from_stdin() -> None:
    source = sys.stdin.read()
    exec(compile(source, "<stdin>", "exec"), _fresh_main("<stdin>"))


def _script(path: str, rest: list[str]) -> None:
    import runpy

    if not os.path.exists(path):
        sys.stderr.write(f"python: can't open file {os.path.abspath(path)!r}: [Errno 2] No "
                         "such file or directory\n")
        raise SystemExit(2)
    sys.argv = [path, *rest]
    folder = os.path.dirname(os.path.abspath(path))
    sys.path[:] = [folder, *(p for p in sys.path if p != "")]
    runpy.run_path(path, run_name="__main__")


# -- pip --------------------------------------------------------------------------------------
_PIP_GLOBAL = frozenset({"-q", "--quiet", "-v", "--verbose", "--disable-pip-version-check",
                         "--no-input", "--no-color", "--isolated", "-qq", "-qqq"})


def _pip(args: list[str]) -> int:
    import importlib

    words = [a for a in args if a not in _PIP_GLOBAL]
    if not words or words[0] in ("-h", "--help", "help"):
        print("Usage: pip install NAME... | pip uninstall [-y] NAME... | pip list | pip freeze"
              "\n(the sandbox's pip: the host installs pure-Python wheels, as %pip does)")
        return 0 if words else 1
    if words[0] in ("-V", "--version"):
        print("pip (jupyter-sandbox: pure-Python wheels installed by the host, as %pip)")
        return 0
    action, rest = words[0], words[1:]
    if action in ("list", "freeze"):
        reply = bridge.call("pip", action="list", args=[], cwd=os.getcwd())
    elif action == "uninstall":
        names = [w for w in rest if w not in ("-y", "--yes")]
        reply = bridge.call("pip", action="uninstall", args=names, cwd=os.getcwd())
    elif action == "install":
        reply = bridge.call("pip", action="install", args=rest, cwd=os.getcwd())
    elif action == "show":
        reply = bridge.call("pip", action="list", args=[], cwd=os.getcwd())
    else:
        sys.stderr.write(f"ERROR: unknown command \"{action}\" (the sandbox's pip runs "
                         "install, uninstall, list, freeze and show)\n")
        return 1
    if "error" in reply:
        sys.stderr.write(f"ERROR: {reply['error']}\n")
        return 1
    packages = reply.get("packages") or []
    if action == "freeze" or (action == "list" and "--format=freeze" in rest):
        for item in packages:
            print(f"{item['name']}=={item['version']}")
    elif action == "list":
        width = max([len("Package")] + [len(p["name"]) for p in packages])
        vwidth = max([len("Version")] + [len(p["version"]) for p in packages])
        print(f"{'Package':<{width}} {'Version':<{vwidth}}")
        print(f"{'-' * width} {'-' * vwidth}")
        for item in packages:
            print(f"{item['name']:<{width}} {item['version']:<{vwidth}}")
    elif action == "show":
        wanted = {n.lower().replace("_", "-") for n in rest}
        found = [p for p in packages if p["name"].lower().replace("_", "-") in wanted]
        for item in found:
            print(f"Name: {item['name']}\nVersion: {item['version']}\nLocation: "
                  f"{reply.get('site', '')}")
        if len(found) < len(wanted):
            sys.stderr.write("WARNING: Package(s) not found: "
                             f"{', '.join(sorted(wanted - {p['name'].lower() for p in found}))}\n")
            return 1
    else:
        importlib.invalidate_caches()
        for text in reply.get("lines") or []:
            print(text)
    return 0


# -- built-in commands and sh -c --------------------------------------------------------------
def _command(argv: list[str]) -> int:
    from .commands import runner

    sys.stdout.flush()
    try:
        return int(runner.run_argv(argv, stdin=sys.stdin.buffer, stdout=sys.stdout.buffer,
                                   stderr=sys.stderr.buffer, env=dict(os.environ),
                                   cwd=os.getcwd()))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
