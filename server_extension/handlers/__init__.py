"""The kernel-level REST API the JupyterLab extension uses, under
``{base_url}sandbox/api/kernels/{kernel_id}/``: ``files``, ``previews`` (list and stop),
``snapshots``, ``status``; plus ``preview_settings`` (``sandbox/api/preview-settings``),
``upload_limit`` (shared with the service's file route) and ``base`` (auth, the control client,
errors as the one envelope)."""
