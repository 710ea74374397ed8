"""Name resolution for the network broker, replaceable so tests can make a name resolve to
any address (a private one, to prove the policy checks what a name *resolves to*).

The broker resolves once per connection and connects to exactly the addresses it checked
(``broker.py``): what this returns is what the policy sees, so a resolver that lies (DNS
rebinding) can at worst offer an address the policy then refuses.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ResolvedAddress:
    """One address a name resolved to: ``family`` is ``socket.AF_INET`` or ``AF_INET6``."""

    family: int
    address: str


class Resolver(Protocol):
    """Turns a host name (or an address literal) into the TCP addresses to try, in order."""

    def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        """Raise ``socket.gaierror`` when the name does not resolve."""
        ...


def literal_address(host: str) -> ResolvedAddress | None:
    """``host`` as an address when it is an IPv4/IPv6 literal (``[::1]`` accepted), else None."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
    return ResolvedAddress(family, str(parsed))


class SystemResolver:
    """The host's ``getaddrinfo`` (TCP only), duplicates dropped, order kept."""

    def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        found: list[ResolvedAddress] = []
        for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM):
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ResolvedAddress(family, str(ipaddress.ip_address(sockaddr[0])))
            if address not in found:
                found.append(address)
        return found


class StaticResolver:
    """A resolver from a table (tests): ``{"internal.test": ["10.0.0.5"]}``. Names missing from
    the table fail as an unknown name does; address literals resolve to themselves."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self._table = {name.lower(): list(addresses) for name, addresses in table.items()}

    def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        addresses = self._table.get(host.lower().rstrip("."))
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not in the test resolver")
        result = []
        for text in addresses:
            address = literal_address(text)
            if address is None:
                raise ValueError(f"the test resolver maps {host!r} to {text!r}, not an address")
            result.append(address)
        return result
