"""REST route for the pool of pre-started notebook kernels (``PooledKernelManager``), behind
Jupyter auth (``kernels`` permission):

* ``GET {base_url}sandbox/api/notebook-pool`` → ``PooledKernelManager.pool_status()``: kernels
  waiting and starting, hand-overs (hits), normal starts of the pooled kernel name for
  notebooks (misses, by reason), waiting kernels given up at a hand-over (discarded, by
  reason), pre-starts done and failed, hand-over latency in seconds.

404 (the protocol's error envelope) when the server's kernel manager has no pool.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import APIError
from ..pooled_kernels import PooledKernelManager
from .base import KernelAPIHandler

ROUTE = r"/sandbox/api/notebook-pool"


class NotebookPoolHandler(KernelAPIHandler):

    @web.authenticated
    @authorized
    async def get(self) -> None:
        manager = self.kernel_manager
        if not isinstance(manager, PooledKernelManager):
            raise APIError(404, "this server's kernel manager keeps no pre-started kernels",
                           hint="set c.SandboxExtensionApp.notebook_kernel_pool = True (or "
                                "c.ServerApp.kernel_manager_class to jupyter_sandbox."
                                "server_extension.pooled_kernels.PooledKernelManager)")
        self.finish(json.dumps(manager.pool_status()))
