"""jupyter-sandbox: run notebook code inside a WebAssembly sandbox.

Layers (dependencies point downwards only):

* ``jupyter_sandbox.runtime`` — the sandbox itself (wasmtime host, WASI, virtual FS); no Jupyter.
* ``jupyter_sandbox.kernel`` — the Jupyter kernel that owns one sandbox.
* ``jupyter_sandbox.server_extension`` — the jupyter-server extension.
"""

__version__ = "0.1.0"
