"""The message protocol between the host and the guest shim, over ``_host.call``.

Every host operation is one *turn* whose source is the constant :data:`DISPATCH_SOURCE`. The shim
then asks the host for the operation (``{"op": "request"}`` → the request object), performs it,
and ends with ``{"op": "reply", "content": {...}}``. While working it may send:

* ``{"op": "message", "msg_type": ..., "content": {...}, "metadata": {...}}`` — Jupyter-shaped
  output: ``stream``, ``display_data``, ``update_display_data``, ``clear_output``,
  ``execute_result``, ``error``, ``comm_open``, ``comm_msg``, ``comm_close``. Reply ``{}``.
  Contents are the Jupyter protocol's; bytes in a display bundle (``_repr_png_``) arrive as
  base64 text, as jupyter_client sends them. A comm message's content is ``comm_id``, ``data``
  (plus ``target_name``/``target_module`` for ``comm_open``) and, only when the comm sent
  binary buffers, ``buffers``: a list of base64 strings, which the kernel layer removes from
  the content and sends as the message's binary buffers.
* ``{"op": "input", "prompt": str, "password": bool}`` → ``{"value": str}`` or
  ``{"error": str}`` (the front end does not allow input; the guest raises
  ``StdinNotImplementedError``).
* ``{"op": "interrupt_reason"}`` → ``{"reason": "interrupt" | "timeout" | "none"}``: asked by
  the guest's SIGINT handler, so the host decides whether a delivered signal raises
  ``KeyboardInterrupt``, ``TimeoutError`` or nothing (a stale interrupt from a finished turn).
* ``{"op": "pip", "action": "install" | "uninstall" | "list", "args": [str], "cwd": str}``
  (``%pip``, see ``packages.py``): the host runs pip while the guest waits, sending pip's
  progress as ``stream`` output, then answers ``{"lines": [str], "site": str}`` (install,
  uninstall), ``{"packages": [{"name", "version", "origin"}], "site": str}`` (list) or
  ``{"error": str}``. ``site`` is the guest folder of installed packages (on ``sys.path``).

Requests (``"type"`` field) and their replies:

* ``execute``: ``code``, ``silent``, ``store_history``, ``user_expressions``, ``allow_stdin``
  → ``status`` (``ok`` / ``error`` / ``aborted``), ``execution_count``, ``user_expressions``,
  ``payload`` (ipykernel's execute_reply payloads: ``{"source": "page", "data", "start"}``
  from ``obj?``, ``{"source": "set_next_input", "text", "replace"}``), and for errors
  ``ename``, ``evalue``, ``traceback``.
* ``complete``: ``code``, ``cursor_pos`` (in code points) → ``matches``, ``cursor_start``,
  ``cursor_end``, ``metadata``.
* ``inspect``: ``code``, ``cursor_pos``, ``detail_level`` → ``found``, ``data``, ``metadata``.
* ``is_complete``: ``code`` → ``status``, ``indent``.
* ``comm``: ``msg_type`` (``comm_open``/``comm_msg``/``comm_close``), ``content`` and
  ``buffers`` (base64) from the front end → ``status`` (``ok``, or ``error`` with ``ename``
  and ``evalue`` for a malformed request). The guest's handlers see the buffers as
  ``memoryview``s in ``msg["buffers"]``, as under ipykernel; what they print or display, and
  the comm messages they send back, arrive as output messages of this request.
* ``comm_info``: ``target_name`` → ``comms``.
* ``history``: parameters of a history_request → ``history``.
* ``http`` (previews, see ``previews.py``): ``port``, ``method``, ``path`` (percent-encoded,
  below the preview prefix), ``query``, ``headers`` ([name, value] pairs), ``body`` (base64),
  ``script_name`` (the public prefix), ``scheme``, ``host``, ``client`` → ``status`` ``ok``, or
  ``error`` with ``code`` (502 nothing served on the port, 500 the app raised, 503
  interrupted), ``message``, ``traceback`` and ``started`` (whether the response had begun).
  The response arrives as messages first: ``http.start`` (``status``, ``headers``), then
  ``http.body`` (``data``, base64) per chunk, as the app produces them.
* ``ws_connect`` (the ``http`` fields plus ``conn``, an id the host chooses, and
  ``subprotocols``), ``ws_receive`` (``conn``, ``text`` or base64 ``bytes``),
  ``ws_disconnect`` (``conn``, ``code``) → ``status``, ``open`` (whether the app still
  listens), or ``code``/``message`` when refused. The ASGI app's own events arrive as
  ``ws.accept`` (``subprotocol``, ``headers``), ``ws.send`` (``text`` or base64 ``bytes``)
  and ``ws.close`` (``code``, ``reason``) messages.
"""

from __future__ import annotations

import json
from typing import Any

#: The source of every dispatch turn (constant, so the guest's linecache never grows).
DISPATCH_SOURCE = "__import__('jupyter_sandbox_guest').dispatch()"


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def decode(data: bytes) -> Any:
    """Parse guest JSON; invalid UTF-8 is replaced rather than allowed to break the host."""
    return json.loads(data.decode("utf-8", "replace"))
