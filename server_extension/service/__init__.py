"""Sandboxes as a service, under ``{base_url}sandbox/api/v1/``: ``sandboxes`` (create, list,
delete, interrupt, fork, keep_alive, snapshots, previews), ``exec`` (streamed NDJSON),
``files``, ``packages``, ``openapi`` (the document that describes them), ``routes`` (all of
them), ``registry`` (the sandboxes and their kernels), ``lifecycle`` (timeouts, stop
reasons), ``store`` (the records on disk, SQLite), ``config`` (the traitlets), ``base`` and
``errors``."""
