"""The guest shim: runs inside the sandbox, turns host requests into IPython actions.

The host runs ``dispatch()`` as a turn; it fetches one request, handles it and replies. See the
host's ``jupyter_sandbox.runtime.protocol`` for every request and message.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from . import bridge

_state: dict[str, Any] = {}


def dispatch() -> None:
    """Handle one host request. An interrupt that lands outside user code (while a request
    starts or ends) becomes an error reply; it never escapes the turn without one."""
    content: dict[str, Any] = {"status": "error", "ename": "KeyboardInterrupt", "evalue": "",
                               "traceback": [], "user_expressions": {}}
    try:
        _forget_turn_sources()
        request = bridge.call("request")
        handler = _HANDLERS.get(request.get("type", ""))
        if handler is None:
            content = {"status": "error", "ename": "ValueError",
                       "evalue": f"unknown request {request!r}"}
        else:
            from .shell import flush_streams

            try:
                content = handler(request)
            finally:
                flush_streams()
    except KeyboardInterrupt:
        shell = _state.get("shell")
        if shell is not None:
            content["execution_count"] = shell.execution_count - 1
    while True:
        try:
            bridge.call("reply", content=content)
            return
        except KeyboardInterrupt:
            continue  # the interrupt was for this request, which is answered now


def _forget_turn_sources() -> None:
    """The reactor keeps every turn's source in linecache; ours are all the same, drop them."""
    import linecache

    cache = getattr(linecache, "_interactive_cache", None)
    if isinstance(cache, dict):
        cache.clear()


def _boot(request: dict[str, Any]) -> dict[str, Any]:
    from . import environment

    shell = environment.set_up(request)
    _state["shell"] = shell
    return {"status": "ok"}


def _shell() -> Any:
    return _state["shell"]


def _execute(request: dict[str, Any]) -> dict[str, Any]:
    from . import execution

    return execution.execute(_shell(), request)


def _complete(request: dict[str, Any]) -> dict[str, Any]:
    from . import introspection

    return introspection.complete(_shell(), request["code"], int(request["cursor_pos"]))


def _inspect(request: dict[str, Any]) -> dict[str, Any]:
    from . import introspection

    return introspection.inspect(_shell(), request["code"], int(request["cursor_pos"]),
                                 int(request.get("detail_level", 0)))


def _is_complete(request: dict[str, Any]) -> dict[str, Any]:
    from . import introspection

    return introspection.is_complete(_shell(), request["code"])


def _comm(request: dict[str, Any]) -> dict[str, Any]:
    from . import comms

    return comms.handle_front_end_message(request)


def _comm_info(request: dict[str, Any]) -> dict[str, Any]:
    from . import comms

    return comms.comm_info(request.get("target_name"))


def _history(request: dict[str, Any]) -> dict[str, Any]:
    from . import history

    return history.history(_shell(), request)


def _after_restore(request: dict[str, Any]) -> dict[str, Any]:
    from . import restore

    return restore.after_restore(request)


def _configure(request: dict[str, Any]) -> dict[str, Any]:
    from . import restore

    return restore.configure(request, _shell())


def _http(request: dict[str, Any]) -> dict[str, Any]:
    from . import preview_http

    return preview_http.handle(request)


def _ws_connect(request: dict[str, Any]) -> dict[str, Any]:
    from . import preview_asgi

    return preview_asgi.connect(request)


def _ws_receive(request: dict[str, Any]) -> dict[str, Any]:
    from . import preview_asgi

    return preview_asgi.receive(request)


def _ws_disconnect(request: dict[str, Any]) -> dict[str, Any]:
    from . import preview_asgi

    return preview_asgi.disconnect(request)


def _previews_list(request: dict[str, Any]) -> dict[str, Any]:
    """The registered preview ports. User code can replace the registry's functions, so any
    failure is an error reply (the host reports it) rather than a turn without one."""
    if TYPE_CHECKING:  # the guest's own jupyter_sandbox package, as mypy finds it on the host
        from jupyter_sandbox.runtime.guest.jupyter_sandbox import _registry
    else:
        from jupyter_sandbox import _registry

    try:
        return {"status": "ok", "ports": [preview.port for preview in _registry.previews()]}
    except Exception as exc:  # noqa: BLE001 - reported to the host as the reply
        return {"status": "error", "ename": type(exc).__name__, "evalue": str(exc)}


def _preview_stop(request: dict[str, Any]) -> dict[str, Any]:
    if TYPE_CHECKING:  # the guest's own jupyter_sandbox package, as mypy finds it on the host
        from jupyter_sandbox.runtime.guest.jupyter_sandbox import _registry
    else:
        from jupyter_sandbox import _registry

    port: Any = request.get("port")  # _registry.stop checks it, as it does a user's
    try:
        return {"status": "ok", "stopped": _registry.stop(port)}
    except Exception as exc:  # noqa: BLE001 - reported to the host as the reply
        return {"status": "error", "ename": type(exc).__name__, "evalue": str(exc)}


_HANDLERS = {
    "after_restore": _after_restore,
    "configure": _configure,
    "history": _history,
    "boot": _boot,
    "execute": _execute,
    "complete": _complete,
    "inspect": _inspect,
    "is_complete": _is_complete,
    "comm": _comm,
    "comm_info": _comm_info,
    "http": _http,
    "ws_connect": _ws_connect,
    "ws_receive": _ws_receive,
    "ws_disconnect": _ws_disconnect,
    "previews_list": _previews_list,
    "preview_stop": _preview_stop,
}

__all__ = ["dispatch"]
del sys
