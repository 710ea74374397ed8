"""IPython's ``InteractiveShell`` wired to the host, as ipykernel wires it to ZeroMQ: display
publisher, display hook and tracebacks become Jupyter messages."""

from __future__ import annotations

from typing import Any

from IPython.core.display_trap import DisplayTrap
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Configurable

from . import bridge


class HostDisplayPublisher(DisplayPublisher):
    """``display()``/``update_display()``/``clear_output()`` → display_data messages."""

    def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None,
                source: Any = None, *, transient: dict[str, Any] | None = None,
                update: bool = False, **_kw: Any) -> None:
        flush_streams()
        content = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
        bridge.send("update_display_data" if update else "display_data", content)

    def clear_output(self, wait: bool = False) -> None:
        flush_streams()
        bridge.send("clear_output", {"wait": bool(wait)})


class HostDisplayHook(DisplayHook):
    """A cell's final expression → execute_result."""

    def start_displayhook(self) -> None:
        self._data: dict[str, Any] = {}
        self._metadata: dict[str, Any] = {}

    def write_output_prompt(self) -> None:
        pass

    def write_format_data(self, format_dict: dict[str, Any],
                          md_dict: dict[str, Any] | None = None) -> None:
        self._data = format_dict
        self._metadata = md_dict or {}

    def finish_displayhook(self) -> None:
        flush_streams()
        if self._data:
            bridge.send("execute_result", {"data": self._data, "metadata": self._metadata,
                                           "execution_count": self.prompt_count})


class SandboxShell(InteractiveShell):
    """The interpreter's shell. Records the last error for the execute reply."""

    last_error: dict[str, Any] | None = None

    def init_display_pub(self) -> None:
        self.display_pub = HostDisplayPublisher(shell=self, parent=self)
        self._add_configurable(self.display_pub)

    def init_displayhook(self) -> None:
        self.displayhook = HostDisplayHook(shell=self, cache_size=self.cache_size)
        self._add_configurable(self.displayhook)
        self.display_trap = DisplayTrap(hook=self.displayhook)

    def _add_configurable(self, configurable: Configurable) -> None:
        # IPython starts the list as ``[self]``, so its inferred type holds shells only.
        configurables: list[Any] = self.configurables
        configurables.append(configurable)

    def _showtraceback(self, etype: type, evalue: BaseException, stb: list[str]) -> None:
        flush_streams()
        error = {"ename": getattr(etype, "__name__", str(etype)), "evalue": str(evalue),
                 "traceback": list(stb)}
        self.last_error = error
        bridge.send("error", error)

    def init_hooks(self) -> None:
        """``obj?`` and ``%page`` fill the execute reply's ``page`` payload (as ipykernel)."""
        super().init_hooks()
        from IPython.core import page, payloadpage

        self.set_hook("show_in_pager", page.as_hook(payloadpage.page), 99)

    def write_payload(self, payload: dict[str, Any]) -> None:
        """Add an ipykernel execute_reply payload (``set_next_input``, ``ask_exit``…)."""
        if self.payload_manager is None:  # InteractiveShell.__init__ always sets one
            raise RuntimeError(f"a {payload.get('source')} payload was written before the "
                               "shell was initialised")
        self.payload_manager.write_payload(payload)

    def set_next_input(self, text: str, replace: bool = False) -> None:
        """``%load`` and friends: a ``set_next_input`` payload, as ipykernel."""
        self.write_payload({"source": "set_next_input", "text": text, "replace": replace})

    def safe_execfile_ipy(self, fname: str, shell_futures: bool = False,
                          raise_exceptions: bool = False) -> None:
        """``%run other.ipynb`` without nbformat, which the guest cannot load (see
        notebook_files); ``.ipy`` files as IPython runs them."""
        if str(fname).lower().endswith(".ipynb"):
            from . import notebook_files

            notebook_files.run_notebook(self, fname, shell_futures, raise_exceptions)
        else:
            super().safe_execfile_ipy(fname, shell_futures, raise_exceptions)

    def system(self, cmd: str) -> None:
        """``!cmd`` and the shell aliases (``ls``, ``cat``…): run by the sandbox's own shell
        (:mod:`.commands`, built-in commands over the sandbox's files), output streamed to the
        cell as it is produced, the status in ``_exit_code``, as IPython's ``system_piped``."""
        if cmd.rstrip().endswith("&"):
            raise OSError("Background processes not supported.")  # IPython's own message
        from . import os_commands

        flush_streams()
        exit_code = os_commands.run_in_cell(self.var_expand(cmd, depth=1))
        self.user_ns["_exit_code"] = exit_code
        if self.system_raise_on_error and exit_code != 0:
            from subprocess import CalledProcessError

            raise CalledProcessError(exit_code, cmd)

    system_piped = system_raw = system

    def getoutput(self, cmd: str, split: bool = True, depth: int = 0) -> Any:
        """``files = !ls``, ``!!cmd``, ``%sx``: the output (stderr after stdout, as IPython's
        ``getoutput``) as an ``SList`` (or ``LSString`` when not ``split``)."""
        if cmd.rstrip().endswith("&"):
            raise OSError("Background processes not supported.")
        from IPython.utils.text import LSString, SList

        from . import os_commands

        expanded = self.var_expand(cmd, depth=depth + 1)
        if self.system_raise_on_error:
            exit_code, out, err = os_commands.capture(expanded)
            self.user_ns["_exit_code"] = exit_code
            if exit_code != 0:
                from subprocess import CalledProcessError

                raise CalledProcessError(exit_code, cmd)
            output = (out + err).decode("utf-8", "replace")
        else:
            _, out, _ = os_commands.capture(expanded, merge_stderr=True)
            output = out.decode("utf-8", "replace")
        return SList(output.splitlines()) if split else LSString(output)


def flush_streams() -> None:
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a replaced stream may be anything
            pass
