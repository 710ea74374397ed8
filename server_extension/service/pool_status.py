"""``GET {base_url}sandbox/api/v1/pool``: the warm pool's statistics (``pool.PoolStats``):
idle, starting and in-use kernels, hits and misses of ``POST /sandboxes``, start failures,
the median hand-over latency and the resident size of a pooled kernel."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import ServiceHandler
from .pool import KernelPool
from .sandboxes import PREFIX


class PoolHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        pool: KernelPool = self.settings["jupyter_sandbox_pool"]
        self.send_json(pool.stats())


ROUTES = [(PREFIX + r"/pool", PoolHandler)]
