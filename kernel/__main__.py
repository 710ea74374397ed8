"""``python -m jupyter_sandbox.kernel -f CONNECTION_FILE`` starts the Sandboxed Python kernel."""

from .kernel import main

if __name__ == "__main__":
    main()
