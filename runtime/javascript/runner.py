"""``run_javascript``: one ``node`` process of the sandbox, run on the calling thread.

What ``node`` accepts: ``node -e CODE [args…]``, ``node -p EXPR [args…]``, ``node FILE [args…]``
(read from the sandbox's filesystem, relative to cwd), ``node -`` / no argument (the program is
read from stdin), ``node --version``. The run: a fresh QuickJS instance (a store of the shared
engine, its own linear memory capped by ``limits.memory_bytes``), the prelude's node globals,
the user's code, then the event loop (promise jobs, then timers in due order, sleeping
interruptibly) until nothing is left.

Exit statuses, as node's: 0; ``process.exit(n)`` / ``process.exitCode``; 1 after an uncaught
exception (its stack on stderr) or a dead instance (stack overflow, engine crash); 9 for bad
options; 130 when ``cancel`` is set (interrupt or kill); 124 when the time limit is reached.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from importlib.resources import files

from ..vfs import VirtualFS, normalize
from ..wasi_errno import WasiError
from .host_functions import NodeHost
from .limits import JavaScriptLimits, RunGuard, StopReason
from .module import QUICKJS_RS_VERSION
from .quickjs import GuestTrap, JSException, JSThrow, JSValue, QuickJSInstance

#: What ``process.version`` says: the Node API level the prelude imitates, marked as ours.
NODE_VERSION = "v22.0.0-sandbox"
EXIT_UNCAUGHT = 1
EXIT_BAD_OPTION = 9
EXIT_TIME_LIMIT = 124
EXIT_CANCELLED = 130
HOST_FUNCTION = "__sandbox_host"
USAGE = ("usage: node [-e CODE | -p EXPR | FILE | -] [args...]\n"
         "The sandbox's node is QuickJS (quickjs-rs " + QUICKJS_RS_VERSION + ") with a subset of "
         "Node's globals: console, process, Buffer, timers, require('fs'|'path'|'util'|'os'|"
         "'events').\n")

_prelude: str | None = None


def _prelude_source() -> str:
    global _prelude
    if _prelude is None:
        _prelude = (files(__package__) / "prelude.js").read_text(encoding="utf-8")
    return _prelude


class _Program:
    """What to run, parsed from argv like node does."""

    def __init__(self, source: str, filename: str, *, print_result: bool, wrap: bool,
                 args: list[str]) -> None:
        self.source, self.filename = source, filename
        self.print_result, self.wrap, self.args = print_result, wrap, args


class _BadUsage(Exception):
    pass


def _parse(argv: list[str], *, cwd: str, vfs: VirtualFS,
           stdin: Callable[[], bytes]) -> _Program | str:
    """The program to run, or text to print (``--version``, ``--help``)."""
    rest = list(argv[1:])
    while rest:
        flag = rest[0]
        if flag in ("-v", "--version"):
            return NODE_VERSION + "\n"
        if flag in ("-h", "--help"):
            return USAGE
        if flag in ("-e", "--eval", "-p", "--print"):
            if len(rest) < 2:
                raise _BadUsage(f"node: {flag} requires an argument")
            return _Program(rest[1], "[eval]", print_result=flag in ("-p", "--print"),
                            wrap=False, args=rest[2:])
        if flag == "--":
            rest = rest[1:]
            break
        if flag.startswith("-") and flag != "-":
            raise _BadUsage(f"node: bad option: {flag}")
        break
    if not rest or rest[0] == "-":
        chunks = []
        while chunk := stdin():
            chunks.append(chunk)
        return _Program(b"".join(chunks).decode("utf-8", "replace"), "[stdin]",
                        print_result=False, wrap=False, args=rest[1:])
    script = normalize(rest[0], cwd)
    try:
        fd, _mount = vfs.open_file(script, write=False, create=False, exclusive=False,
                                   truncate=False)
    except WasiError as exc:
        raise _BadUsage(f"node: cannot open {rest[0]!r}: Error: Cannot find module "
                        f"'{script}' ({exc})") from exc
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return _Program(b"".join(chunks).decode("utf-8", "replace"), script, print_result=False,
                    wrap=True, args=rest[1:])


def _main_source(program: _Program) -> str:
    """The script QuickJS evaluates for the user's code, in node's scope for its kind.

    The user's code goes through an indirect ``eval``: it runs as sloppy-mode global code as in
    node (the guest's ``eval_code`` is strict), and its stack frames name the file ``<input>``,
    told apart from the prelude's (``eval_script``) when a stack is printed."""
    if program.print_result:
        return f"__sandbox_loop.printValue((0, eval)({json.dumps(program.source)}))"
    if not program.wrap:
        return f"(0, eval)({json.dumps(program.source)})"
    folder = program.filename.rsplit("/", 1)[0] or "/"
    source = program.source
    body = "//" + source[2:] if source.startswith("#!") else source  # keeps line numbers
    wrapper = "(function (exports, require, module, __filename, __dirname) {" + body + "\n})"
    return (f"(0, eval)({json.dumps(wrapper)})"
            ".call(globalThis.__sandbox_module.exports, globalThis.__sandbox_module.exports, "
            f"__sandbox_require({json.dumps(folder)}), globalThis.__sandbox_module, "
            f"{json.dumps(program.filename)}, {json.dumps(folder)})")


def user_frames(stack: str, filename: str) -> str:
    """A QuickJS stack with the user's frames named after their file, the prelude's as
    ``node:internal/sandbox`` (as node names its own)."""
    named = stack.replace("(<input>:", f"({filename}:").replace(
        "(eval_script:", "(node:internal/sandbox:")
    return "\n".join(line for line in named.split("\n") if not _BOOTSTRAP_FRAME.match(line))


#: The frames of our one-line bootstrap that evals the user's code (line 1 of eval_script;
#: line 1 of prelude.js is a comment, so no prelude frame is there).
_BOOTSTRAP_FRAME = re.compile(r"\s+at (eval \(native\)|<eval> \(node:internal/sandbox:1:\d+\))$")


def _format_uncaught(exc: JSException, filename: str) -> str:
    if not exc.name:
        return f"Uncaught {exc.message}\n"
    head = f"{exc.name}: {exc.message}" if exc.message else exc.name
    stack = user_frames(exc.stack or "", filename).rstrip()
    return head + ("\n" + stack if stack else "") + "\n"


_FAULT_ADDRESS = re.compile(r"memory fault at wasm address 0x([0-9a-f]+)")


def _is_stack_overflow(message: str) -> bool:
    """A trap from runaway recursion: wasmtime's own stack check, or QuickJS's shadow stack
    (which this WASI build does not check) running below address 0 and wrapping around."""
    fault = _FAULT_ADDRESS.search(message)
    return "call stack exhausted" in message or (
        fault is not None and int(fault.group(1), 16) >= 0xF000_0000)


def _trap_summary(message: str) -> str:
    """The cause of a trap without wasmtime's frame-by-frame backtrace."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown trap"


def run_javascript(*, argv: list[str], env: dict[str, str], cwd: str, vfs: VirtualFS,
                   stdin: Callable[[], bytes], write: Callable[[str, bytes], None],
                   limits: JavaScriptLimits, cancel: threading.Event) -> int:
    """Run one ``node`` command to its end; returns the exit status (see the module doc)."""
    cwd = normalize(cwd)
    try:
        program = _parse(argv, cwd=cwd, vfs=vfs, stdin=stdin)
    except _BadUsage as exc:
        write("stderr", (str(exc) + "\n").encode())
        return EXIT_BAD_OPTION
    if isinstance(program, str):
        write("stdout", program.encode())
        return 0
    with RunGuard(limits, cancel) as guard:
        host = NodeHost(vfs=vfs, cwd=cwd, stdin=stdin, write=write, guard=guard,
                        read_limit=limits.memory_bytes // 2)  # the copy must fit too

        def on_call(name: str, args: list[JSValue]) -> object:
            if name != HOST_FUNCTION:
                return {"__error": {"code": "ERR_UNKNOWN", "message": f"no host function {name}"}}
            return host(name, args)

        def write_wasi(fd: int, data: bytes) -> None:
            write("stderr", data)  # the engine's own panic messages, if any

        instance = QuickJSInstance(memory_limit=limits.memory_bytes, on_call=on_call,
                                   should_interrupt=guard.should_interrupt,
                                   hard_stop=guard.hard_stop, write_output=write_wasi)
        try:
            status = _run(instance, program, guard, env=env, cwd=cwd, limits=limits,
                          write=write)
        finally:
            instance.close()
    return status


def _run(instance: QuickJSInstance, program: _Program, guard: RunGuard, *,
         env: dict[str, str], cwd: str, limits: JavaScriptLimits,
         write: Callable[[str, bytes], None]) -> int:
    boot = {"argv": ["/usr/local/bin/node", *([program.filename] if program.wrap else []),
                     *program.args],
            "env": dict(env), "cwd": cwd, "pid": 0, "version": NODE_VERSION,
            "versions": {"node": NODE_VERSION[1:], "quickjs_rs": QUICKJS_RS_VERSION},
            "memoryLimit": limits.memory_bytes, "filename": program.filename}
    try:
        instance.register(HOST_FUNCTION)
        instance.run(f"globalThis.__sandbox_boot = {json.dumps(boot)};")
        instance.run(_prelude_source())  # its frames: file "eval_script"
        if program.wrap:
            instance.run(f"globalThis.__sandbox_module = {{exports: {{}}, filename: "
                         f"{json.dumps(program.filename)}, loaded: false}};")
        else:  # node -e/-p: require, module, exports… are globals
            instance.run(f"globalThis.require = __sandbox_require({json.dumps(cwd)}); "
                         "globalThis.module = {exports: {}, id: '.', loaded: false}; "
                         "globalThis.exports = globalThis.module.exports; "
                         f"globalThis.__filename = {json.dumps(program.filename)}; "
                         "globalThis.__dirname = '.';")
        completion = instance.eval(_main_source(program))
        if not program.wrap and not program.print_result:
            glob = instance.eval("globalThis")
            try:
                instance.set_prop(glob, "__sandbox_completion", completion)
            finally:
                instance.free_value(glob)
            instance.run("__sandbox_loop.watch(globalThis.__sandbox_completion); "
                         "delete globalThis.__sandbox_completion;")
        instance.free_value(completion)
        while guard.reason is None:
            instance.run_pending_jobs()
            delay = instance.to_python(instance.eval("__sandbox_loop.nextDelay()"))
            if not isinstance(delay, int | float) or delay < 0:
                break
            if delay > 0 and not guard.sleep(delay / 1000):
                break
            instance.run("__sandbox_loop.runDue()")
        stopped = _stopped_status(guard, write)
        if stopped is not None:
            return stopped
        status = instance.to_python(instance.eval("__sandbox_loop.exitCode()"))
        stopped = _stopped_status(guard, write)  # an 'exit' listener may call process.exit
        if stopped is not None:
            return stopped
        return int(status) & 0xFF if isinstance(status, int | float) else 0
    except JSThrow as exc:
        stopped = _stopped_status(guard, write)
        if stopped is not None:
            return stopped
        thrown = exc.exception
        out_of_memory = thrown.name == "InternalError" and "out of memory" in thrown.message
        # Out of memory so deep that QuickJS could not even make the error: it throws null.
        if not thrown.name and thrown.message == "null" and \
                instance.memory_bytes() > limits.memory_bytes // 2:
            out_of_memory = True
            thrown = JSException("InternalError", "out of memory", None)
        message = _format_uncaught(thrown, program.filename)
        if out_of_memory:
            message += (f"node: the JavaScript memory limit "
                        f"({limits.memory_bytes >> 20} MiB) was reached\n")
        write("stderr", message.encode("utf-8", "replace"))
        return EXIT_UNCAUGHT
    except GuestTrap as exc:
        stopped = _stopped_status(guard, write)
        if stopped is not None:
            return stopped
        if _is_stack_overflow(str(exc)):
            text = ("RangeError: Maximum call stack size exceeded (the script recursed too "
                    "deeply; the JavaScript engine was stopped)\n")
        else:
            used = instance.memory_bytes()
            text = f"node: the JavaScript engine stopped: {_trap_summary(str(exc))}\n"
            if used >= limits.memory_bytes - (8 << 20):
                text = (f"node: the JavaScript memory limit ({limits.memory_bytes >> 20} MiB) "
                        f"was reached and the engine stopped\n")
        write("stderr", text.encode())
        return EXIT_UNCAUGHT
    except MemoryError as exc:
        write("stderr", f"node: {exc} (memory limit {limits.memory_bytes >> 20} MiB)\n".encode())
        return EXIT_UNCAUGHT


def _stopped_status(guard: RunGuard, write: Callable[[str, bytes], None]) -> int | None:
    """The exit status when the run was stopped (exit, cancel, time limit), else None."""
    reason = guard.reason
    if reason is StopReason.EXITED:
        return guard.exit_code
    if reason is StopReason.CANCELLED:
        return EXIT_CANCELLED
    if reason is StopReason.TIME_LIMIT:
        write("stderr", b"node: the time limit was reached; the script was stopped\n")
        return EXIT_TIME_LIMIT
    return None
