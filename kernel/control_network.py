"""Network route of the kernel's control endpoint: ``GET /network`` (the policy in force, the
administrator's, recent connections) and ``PUT /network`` (a new policy for the next
connection, only ever *narrower* than the administrator's: ``runtime.network.policy.narrowed``).

Why the API may only narrow: the sandbox service's callers are Jupyter users, not the
administrator; letting them widen the policy would let any notebook user with a token open the
sandbox to the host's loopback or the cloud metadata service. The administrator's
``SandboxKernel.network*`` traits are the ceiling, as E2B's team-level network settings cap
``updateNetwork``.
"""

from __future__ import annotations

import asyncio
import json
import logging

import tornado.web

from jupyter_sandbox.runtime.network.policy import (
    NetworkPolicy,
    PolicyWideningError,
    narrowed,
)

from .control_base import ControlHandler
from .control_protocol import BAD_NETWORK_POLICY, MAX_NETWORK_BODY, NETWORK_NOT_PERMITTED

log = logging.getLogger("jupyter_sandbox.network")


class NetworkHandler(ControlHandler):
    def _admin(self) -> NetworkPolicy:
        return self.sandbox.config.network

    def _body(self) -> dict[str, object]:
        status = self.sandbox.network.status()
        return {**status, "administrator": self._admin().to_json()}

    async def get(self) -> None:
        self.send_json(200, await asyncio.to_thread(self._body))

    async def put(self) -> None:
        if len(self.request.body) > MAX_NETWORK_BODY:
            self.fail(413, f"a network policy is at most {MAX_NETWORK_BODY} bytes")
            return
        try:
            request = json.loads(self.request.body or b"{}")
        except ValueError:
            self.fail(400, "the body must be a JSON object (a network policy)",
                      BAD_NETWORK_POLICY)
            return
        try:
            policy = narrowed(self._admin(), request)
        except PolicyWideningError as exc:
            self.fail(403, str(exc), NETWORK_NOT_PERMITTED,
                      "GET /network shows the administrator's policy under 'administrator': "
                      "a change may only narrow it")
            return
        except ValueError as exc:
            self.fail(400, str(exc), BAD_NETWORK_POLICY, "")
            return
        self.sandbox.set_network_policy(policy)
        log.info("network policy changed through the API: %s", json.dumps(policy.to_json()))
        self.send_json(200, await asyncio.to_thread(self._body))


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [(r"/network", NetworkHandler)]
