"""``node`` inside the sandbox: JavaScript on QuickJS compiled to WebAssembly (quickjs-rs's
wasm, our own host and WASI), with a subset of Node's globals over the sandbox's VFS.

``run_javascript`` is the interface of INTERFACES.md section B: the process table calls it on a
process's own host thread for ``argv[0] == "node"``.
"""

from .limits import JavaScriptLimits
from .runner import run_javascript

__all__ = ["JavaScriptLimits", "run_javascript"]
