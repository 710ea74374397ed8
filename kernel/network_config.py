"""The kernel's ``network*`` traits → the administrator's ``NetworkPolicy``, checked at start.

A bad rule or a missing CA file stops the sandbox from starting with a message that names the
trait, so the administrator sees what to fix (in every cell's error and the kernel log) instead
of a network that is silently on or off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from jupyter_sandbox.runtime.errors import SandboxError
from jupyter_sandbox.runtime.network.policy import NetworkPolicy

MiB = 1 << 20


class NetworkConfigError(SandboxError, ValueError):
    """A ``SandboxKernel.network*`` trait holds something the policy cannot use."""

    def __init__(self, trait: str, why: str) -> None:
        super().__init__(f"SandboxKernel.{trait} is invalid: {why}. Fix it in the Jupyter "
                         "configuration (jupyter_config.py or the kernel's arguments) and "
                         "restart the kernel")
        self.trait = trait


class _NetworkTraits(Protocol):
    network: bool
    network_allow: list[str]
    network_deny: list[str]
    network_max_connections: int
    network_max_mib_per_cell: int
    network_max_mib_per_sandbox: int
    network_connect_timeout: float
    network_ca_bundle: str
    network_inject_headers: dict[str, dict[str, str]]


def policy_from_traits(kernel: _NetworkTraits) -> NetworkPolicy:
    """Build and validate the policy; NetworkConfigError names the first bad trait."""
    checks: list[tuple[str, dict[str, Any]]] = [
        ("network_allow", {"enabled": kernel.network, "allow": tuple(kernel.network_allow)}),
        ("network_deny", {"enabled": kernel.network, "deny": tuple(kernel.network_deny)}),
        ("network_max_connections", {"max_connections": kernel.network_max_connections}),
        ("network_max_mib_per_cell", {"max_bytes_per_cell": kernel.network_max_mib_per_cell * MiB}),
        ("network_max_mib_per_sandbox",
         {"max_bytes_per_sandbox": kernel.network_max_mib_per_sandbox * MiB}),
        ("network_connect_timeout", {"connect_timeout": kernel.network_connect_timeout}),
    ]
    for trait, kwargs in checks:
        try:
            NetworkPolicy(**kwargs)
        except ValueError as exc:
            raise NetworkConfigError(trait, str(exc)) from exc
    ca_bundle = kernel.network_ca_bundle or None
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise NetworkConfigError("network_ca_bundle", f"{ca_bundle!r} is not a file (a PEM file "
                                 "of CA certificates is expected)")
    headers = tuple((rule, name, value)
                    for rule, fields in kernel.network_inject_headers.items()
                    for name, value in fields.items())
    try:
        NetworkPolicy(inject_headers=headers)
    except ValueError as exc:
        raise NetworkConfigError("network_inject_headers", str(exc)) from exc
    return NetworkPolicy(
        enabled=kernel.network, allow=tuple(kernel.network_allow),
        deny=tuple(kernel.network_deny), max_connections=kernel.network_max_connections,
        max_bytes_per_cell=kernel.network_max_mib_per_cell * MiB,
        max_bytes_per_sandbox=kernel.network_max_mib_per_sandbox * MiB,
        connect_timeout=kernel.network_connect_timeout, ca_bundle=ca_bundle,
        inject_headers=headers)
