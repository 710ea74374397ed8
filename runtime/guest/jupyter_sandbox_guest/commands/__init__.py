"""A small shell that runs inside the guest: built-in commands written in Python over the
sandbox's own filesystem, for ``!cmd``, ``%%sh``, ``os.system``, ``os.popen`` and
``subprocess`` (issue 15).

The sandbox cannot fork or exec, so nothing here starts a host process: every program is a
Python function in :mod:`.builtins` reached through its ``PROGRAMS`` registry, and the shell
language (:mod:`.parser`, :mod:`.expansion`) is interpreted in the guest's own CPython.
:mod:`.runner` is the entry point the IPython and ``subprocess`` wiring calls.
"""
