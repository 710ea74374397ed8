"""Processes inside the sandbox (issue 15): a process is another guest instance restored from
the machine's base image, sharing the sandbox's filesystem and quotas, with its own memory,
argv, environment, working directory, stdio and exit status, run on its own host thread. No
host process ever runs sandbox input.

* ``table``: ``ProcessTable`` (``Sandbox.processes``), the API (INTERFACES.md A);
* ``process``: one process and its controls (``ProcessHandle``); ``info``: the values handed out;
* ``runner``: the thread and guest instance that run one (or the JavaScript engine);
* ``child_calls``: a process's ``_host.call`` router; ``guest_ops``: the ``proc_*`` calls by
  which guest code starts and drives processes;
* ``pipes``, ``output_log``, ``cell_output``: where output goes; ``memory``: the memory split;
  ``programs``: what ``argv[0]`` can be; ``watchdog``: time limits.
"""

from .info import OutputChunk, ProcessInfo, ProcessState
from .process import Process
from .table import ProcessHandle, ProcessTable

__all__ = ["OutputChunk", "Process", "ProcessHandle", "ProcessInfo", "ProcessState",
           "ProcessTable"]
