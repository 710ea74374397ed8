"""``python -m jupyter_sandbox.kernel -f CONNECTION_FILE`` starts the Sandboxed Python kernel."""

import threading


def _preload() -> None:
    """Load the compiled guest and the base image while ipykernel imports (both mostly run
    outside the GIL), so the sandbox is ready sooner after the kernel's channels are up."""
    from jupyter_sandbox.runtime import base_image, module_cache

    try:
        module_cache.guest_module()
        base_image.load()
    except Exception:  # noqa: BLE001 - the real start reports any problem with its context
        return


if __name__ == "__main__":
    threading.Thread(target=_preload, name="sandbox-preload", daemon=True).start()
    from .kernel import main

    main()
