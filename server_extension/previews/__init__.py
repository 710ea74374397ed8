"""Preview URLs for web apps served inside a sandbox: ``link`` (the route on the Jupyter
origin, ``{base_url}sandbox/preview/{kernel}/{port}/``), ``capability`` (shared origin: the app
below a capability path), ``origin`` (``preview_host`` mode: each preview on an origin of its
own), ``proxy`` (the relay they all share), ``forwarding`` (which headers pass each way),
``grants`` (tokens, sessions, capabilities) and ``hosts`` (the preview host pattern)."""
