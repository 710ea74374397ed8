"""The sandbox runtime: CPython for WASI hosted by wasmtime, with a virtual filesystem."""
