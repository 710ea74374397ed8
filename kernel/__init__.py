"""The "Sandboxed Python" Jupyter kernel: one kernel process owns one sandbox."""
