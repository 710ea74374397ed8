"""Which connections a sandbox may open: the administrator's network policy and its checks.

The guest has no socket. When the administrator turns the network on, a host broker resolves and
connects for the guest; before it does, it asks this module. Two checks, both pure functions:

* :func:`check_name` before resolving: is the host name (as the guest wrote it) allowed at all?
* :func:`check_address` on every resolved address at connect time: this is the SSRF boundary. A
  name that resolves (or is rebound, or redirected) to an internal address is refused here.

Rules (strings, also accepted from REST bodies, so parsed as hostile input):

* ``example.com`` - that host name exactly; ``*.example.com`` - any name below it (``*`` and
  ``?`` match as in :func:`fnmatch.fnmatchcase`, across dots); ``*`` - every destination.
  Names are compared lowercased, IDNA-encoded (``bücher.de`` = ``xn--bcher-kva.de``) and without
  the trailing dot.
* ``10.0.0.0/8``, ``127.0.0.1``, ``::1``, ``fd00::/8`` - addresses and ranges (CIDR).
* Any of them with a port: ``api.example.com:443``, ``10.0.0.0/8:5432``, ``[::1]:80``,
  ``[fd00::/8]:443``, ``*:443``.

Decisions: the network off refuses everything; a matching deny rule refuses (deny wins); with a
non-empty allow list a connection needs a matching allow rule (an empty allow list with the
network on means every public destination).

**Special addresses** (loopback, private, shared/CGNAT, link-local, cloud metadata, multicast,
unspecified ``0.0.0.0``, broadcast, documentation and other reserved ranges, and the same
addresses wrapped in IPv6: ``::ffff:127.0.0.1``, ``::127.0.0.1``, 6to4 ``2002:7f00:1::``, NAT64
``64:ff9b::7f00:1``, Teredo) are refused unless an allow rule names *the address*: an address or
range rule that contains the address and lies inside the special range the address belongs to
(``127.0.0.1``, ``127.0.0.0/8``, ``10.1.0.0/16``). Why so strict:

* an allow rule for a *name* (``localhost``, ``intranet.example.com``) never allows a special
  address, because the name's owner - not the administrator - decides what it resolves to (DNS
  rebinding); the administrator who means the address must write the address;
* a broad range (``0.0.0.0/0``, ``::/0``, ``0.0.0.0/1``) or ``*`` means "the internet", not
  "also my loopback and metadata service", so it does not count either;
* the cloud metadata addresses (``169.254.169.254``, ``fd00:ec2::254``, …) are their own
  special range: allowing ``169.254.0.0/16`` does not allow them, only naming them does.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import idna

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The reason given for every connection while the network is off.
NETWORK_OFF = "network is off: the administrator can enable it with SandboxKernel.network = True"

#: The reason while the network was turned off through the API (PUT .../network).
NETWORK_OFF_BY_API = ("network is off: it was turned off for this sandbox through the API "
                      "(PUT /network with \"enabled\": true turns it back on)")

#: What a rule looks like, for error messages.
RULE_FORMS = ("rules look like 'example.com', '*.example.com', 'api.example.com:443', "
              "'10.0.0.0/8', '127.0.0.1:8080', '[::1]:80' or '*'")

MAX_RULE_LENGTH = 300
MAX_RULES = 1000
MAX_HEADER_VALUE = 8192

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
_PATTERN_LABEL = re.compile(r"[a-z0-9_*?-]{1,63}\Z")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}\Z")
_NUMERIC_PART = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")


# -- special address ranges ------------------------------------------------------------------

def _nets(kind: str, *cidrs: str) -> list[tuple[IPNetwork, str]]:
    return [(ipaddress.ip_network(c), kind) for c in cidrs]


#: Most specific first: an address belongs to the first range that contains it.
SPECIAL_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    _nets("cloud metadata", "169.254.169.254/32", "169.254.170.2/32", "169.254.169.253/32",
          "100.100.100.200/32", "fd00:ec2::254/128", "fd00:ec2::23/128")
    + _nets("unspecified", "0.0.0.0/8", "::/128")
    + _nets("loopback", "127.0.0.0/8", "::1/128")
    + _nets("private", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
    + _nets("shared (carrier-grade NAT)", "100.64.0.0/10")
    + _nets("link-local", "169.254.0.0/16", "fe80::/10")
    + _nets("multicast", "224.0.0.0/4", "ff00::/8")
    + _nets("broadcast", "255.255.255.255/32")
    + _nets("reserved", "240.0.0.0/4", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
            "198.51.100.0/24", "203.0.113.0/24", "192.88.99.0/24", "::/8", "100::/64",
            "2001:db8::/32", "fec0::/10", "64:ff9b:1::/48", "2001::/23", "5f00::/16")
)


@dataclass(frozen=True)
class SpecialRange:
    """The special range an address belongs to: its network and what it is."""

    network: IPNetwork
    kind: str


def special_range(address: IPAddress) -> SpecialRange | None:
    """The special range ``address`` lies in (most specific), or None for a public address.

    Anything Python does not call global and the table above misses still counts, as a range of
    just that address.
    """
    if address in _NAT64:
        return None  # NAT64 of a public address (DNS64 networks); the IPv4 inside is checked
    for network, kind in SPECIAL_RANGES:
        if network.version == address.version and address in network:
            return SpecialRange(network, kind)
    if not address.is_global:
        return SpecialRange(ipaddress.ip_network(address), "non-global")
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (6to4, NAT64, Teredo) and reaches."""
    found: list[ipaddress.IPv4Address] = []
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_IN_V6 = (ipaddress.ip_network("::ffff:0:0/96"),      # IPv4-mapped
             ipaddress.ip_network("::ffff:0:0:0/96"),    # IPv4-translated (SIIT)
             ipaddress.ip_network("::/96"))              # IPv4-compatible (deprecated)


def destination_addresses(address: IPAddress) -> list[IPAddress]:
    """The addresses a connection to ``address`` reaches, for matching rules and ranges.

    An IPv4-mapped, -translated or -compatible IPv6 address *is* its IPv4 address (the kernel
    connects there), so it is replaced by it. 6to4, NAT64 and Teredo addresses reach both the
    IPv6 address and the IPv4 one inside, so both are checked.
    """
    if isinstance(address, ipaddress.IPv6Address):
        for net in _V4_IN_V6:
            if address in net and address not in (ipaddress.IPv6Address(0),
                                                   ipaddress.IPv6Address(1)):
                return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
        return [address, *_embedded_ipv4(address)]
    return [address]


# -- host names --------------------------------------------------------------------------------

def _numeric_ipv4(name: str) -> ipaddress.IPv4Address | None:
    """The address of a numeric IPv4 form (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``)
    as the host's resolver (``inet_aton``) and browsers (WHATWG URL) read it; None when ``name``
    does not end in a number (a name). Raises ValueError for a number that is no address."""
    parts = name.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    if not parts or not _NUMERIC_PART.match(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        raise ValueError(f"{name!r} ends in a number but is not an IPv4 address")
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                raise ValueError(f"{name!r} has a bad octal number {part!r}")
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise ValueError(f"{name!r} is out of range for an IPv4 address")
    number = 0
    for v in head:
        number = number * 256 + v
    number = (number << (8 * (5 - len(values)))) | last
    return ipaddress.IPv4Address(number)


def canonical_host(host: str) -> str | IPAddress:
    """A host as the guest wrote it → a lowercase ASCII (IDNA) name without trailing dot, or an
    IP address for every numeric form (``[::1]``, ``2130706433``, ``0x7f.1``, ``１２７.０.０.１``).

    Raises ValueError with the reason for anything that is neither a valid name nor an address.
    """
    if not isinstance(host, str):
        raise ValueError(f"host must be a string, not {type(host).__name__}")
    text = host.strip()
    if not text or len(text) > 260:
        raise ValueError(f"bad host {host[:80]!r}: empty or too long")
    if text.startswith("[") and text.endswith("]") and ":" in text:
        text = text[1:-1]
    if ":" in text:
        if "%" in text:
            raise ValueError(f"bad host {host!r}: IPv6 zone ids are not accepted")
        try:
            return _unwrap(ipaddress.IPv6Address(text))
        except ValueError as exc:
            raise ValueError(f"bad host {host!r}: {exc}") from None
    if not text.isascii():
        try:
            text = idna.uts46_remap(text, std3_rules=False, transitional=False)
            if text.endswith("."):
                text = text[:-1]
            text = idna.encode(text, uts46=False).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"bad host {host!r}: not a valid international name ({exc})") from None
    text = text.lower()
    number = _numeric_ipv4(text)
    if number is not None:
        return number
    if text.endswith("."):
        text = text[:-1]
    labels = text.split(".")
    if len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"bad host {host!r}: a name is labels of letters, digits, '-' and '_' "
                         "separated by dots, each 1-63 characters")
    return text


def _unwrap(address: IPAddress) -> IPAddress:
    """An IPv4-mapped/-translated/-compatible IPv6 address → its IPv4 address."""
    reached = destination_addresses(address)
    if len(reached) == 1:
        return reached[0]
    return address


def _parse_address(text: str) -> IPAddress:
    """A resolved address (canonical text from the resolver, maybe with a zone id)."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return ipaddress.ip_address(text.split("%", 1)[0])


# -- rules -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One parsed rule: a name pattern or an address range, and an optional port."""

    text: str
    pattern: str | None = None           # lowercase IDNA glob; "*" matches every destination
    network: IPNetwork | None = None
    port: int | None = None

    def matches_port(self, port: int) -> bool:
        return self.port is None or self.port == port

    def matches_name(self, name: str, port: int) -> bool:
        """Does this rule match the host name ``name`` (canonical) on ``port``?"""
        if self.pattern is None or not self.matches_port(port):
            return False
        return self.pattern == "*" or fnmatch.fnmatchcase(name, self.pattern)

    def matches_address(self, address: IPAddress, port: int) -> bool:
        """Does this rule match a connection to ``address`` (canonical) on ``port``?"""
        if not self.matches_port(port):
            return False
        if self.pattern == "*":
            return True
        return (self.network is not None and self.network.version == address.version
                and address in self.network)

    def names_address_in(self, address: IPAddress, special: SpecialRange, port: int) -> bool:
        """Is this an explicit allow of ``address`` inside its special range (see module doc)?"""
        return (self.network is not None and self.matches_address(address, port)
                and self.network.version == special.network.version
                and self.network.subnet_of(special.network))  # type: ignore[arg-type]


def _parse_port(text: str, rule: str) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 5 or not 0 < int(text) < 65536:
        raise ValueError(f"bad network rule {rule!r}: port {text!r} must be a number 1-65535")
    return int(text)


def _parse_network(text: str, rule: str) -> IPNetwork:
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            loose = ipaddress.ip_network(text, strict=False)
            raise ValueError(f"bad network rule {rule!r}: {text} has host bits set; "
                             f"did you mean {loose}?") from None
        raise ValueError(f"bad network rule {rule!r}: {exc}") from None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        reached = destination_addresses(network.network_address)
        if len(reached) == 1 and isinstance(reached[0], ipaddress.IPv4Address):
            # ::ffff:10.0.0.0/104 is 10.0.0.0/8: the broker compares unwrapped addresses.
            return ipaddress.IPv4Network((reached[0], network.prefixlen - 96))
    return network


def parse_rule(rule: object) -> Rule:
    """Parse one rule string (untrusted: from a REST body). ValueError says what is wrong."""
    if not isinstance(rule, str):
        raise ValueError(f"a network rule must be a string, not {type(rule).__name__}: "
                         f"{RULE_FORMS}")
    text = rule.strip()
    if not text:
        raise ValueError(f"empty network rule: {RULE_FORMS}")
    if len(text) > MAX_RULE_LENGTH:
        raise ValueError(f"network rule {text[:40]!r}… is longer than {MAX_RULE_LENGTH} "
                         "characters")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError(f"bad network rule {text!r}: no spaces or control characters")
    if "%" in text:
        raise ValueError(f"bad network rule {text!r}: IPv6 zone ids ('%eth0') are not accepted")
    if any(c in text for c in "/@\\#&|,;") and not re.fullmatch(r"[0-9a-fA-F.:\[\]/]+", text):
        raise ValueError(f"bad network rule {text!r}: {RULE_FORMS}")
    host, port = text, None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"bad network rule {text!r}: '[' without ']'")
        host, rest = text[1:close], text[close + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad network rule {text!r}: only ':PORT' may follow ']'")
            port = _parse_port(rest[1:], text)
        if ":" not in host:
            raise ValueError(f"bad network rule {text!r}: brackets are for IPv6 addresses")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _parse_port(port_text, text)
    if not host:
        raise ValueError(f"bad network rule {text!r}: no host or address: {RULE_FORMS}")
    if host == "*":
        return Rule(text, pattern="*", port=port)
    if ":" in host or "/" in host:
        return Rule(text, network=_parse_network(host, text), port=port)
    if "*" in host or "?" in host:
        return Rule(text, pattern=_parse_pattern(host, text), port=port)
    try:
        canonical = canonical_host(host)
    except ValueError as exc:
        raise ValueError(f"bad network rule {text!r}: {exc}") from None
    if isinstance(canonical, str):
        return Rule(text, pattern=canonical, port=port)
    return Rule(text, network=ipaddress.ip_network(canonical), port=port)


def _parse_pattern(host: str, rule: str) -> str:
    labels = host.lower().rstrip(".").split(".") if host != "." else [""]
    out = []
    for label in labels:
        if "*" in label or "?" in label:
            if not _PATTERN_LABEL.match(label):
                raise ValueError(f"bad network rule {rule!r}: a wildcard label may only hold "
                                 "letters, digits, '-', '_', '*' and '?'")
            out.append(label)
            continue
        try:
            name = canonical_host(label)
        except ValueError as exc:
            raise ValueError(f"bad network rule {rule!r}: {exc}") from None
        if not isinstance(name, str):
            raise ValueError(f"bad network rule {rule!r}: wildcards only go in host names; "
                             "write address ranges as CIDRs like '10.0.0.0/8'")
        out.append(name)
    return ".".join(out)


def parse_rules(rules: Iterable[object], what: str = "rules") -> tuple[Rule, ...]:
    """Parse a list of rules; ValueError names the list and the first bad rule."""
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
        raise ValueError(f"network {what} must be a list of rule strings, not "
                         f"{type(rules).__name__}")
    items = list(rules)
    if len(items) > MAX_RULES:
        raise ValueError(f"too many network {what}: {len(items)} (at most {MAX_RULES})")
    return tuple(parse_rule(item) for item in items)


class PolicyWideningError(ValueError):
    """A change asked through the API would allow more than the administrator's policy."""


# -- the policy --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """The answer for one connection: allowed or not, and why (names the rule)."""

    allowed: bool
    reason: str
    #: The rule text that decided, when a rule did.
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reason": self.reason, "rule": self.rule}


_LIMIT_FIELDS = ("max_connections", "max_bytes_per_cell", "max_bytes_per_sandbox")


@dataclass(frozen=True)
class NetworkPolicy:
    """A sandbox's network policy (off by default). Validated on construction (ValueError)."""

    enabled: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    #: Connections open at once per sandbox.
    max_connections: int = 64
    #: Bytes both ways per cell, and over the sandbox's life.
    max_bytes_per_cell: int = 1 << 30
    max_bytes_per_sandbox: int = 8 << 30
    connect_timeout: float = 30.0
    #: An extra PEM CA file the host trusts for TLS (an administrator's host path).
    ca_bundle: str | None = None
    #: (host rule, header, value): headers the host adds to requests to matching hosts. Not in
    #: ``repr`` (a log line or traceback) nor in ``to_json``: the values are secrets.
    inject_headers: tuple[tuple[str, str, str], ...] = field(default=(), repr=False)
    #: The administrator's policy this one was narrowed from (:func:`narrowed`): a connection
    #: must pass it too. None for the administrator's own policy.
    ceiling: NetworkPolicy | None = None
    _allow: tuple[Rule, ...] = field(init=False, repr=False, compare=False, default=())
    _deny: tuple[Rule, ...] = field(init=False, repr=False, compare=False, default=())
    _inject: tuple[tuple[Rule, str, str], ...] = field(init=False, repr=False, compare=False,
                                                       default=())

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError(f"network enabled must be true or false, not {self.enabled!r}")
        allow = tuple(self.allow) if not isinstance(self.allow, str) else self.allow
        deny = tuple(self.deny) if not isinstance(self.deny, str) else self.deny
        object.__setattr__(self, "_allow", parse_rules(allow, "allow rules"))
        object.__setattr__(self, "_deny", parse_rules(deny, "deny rules"))
        object.__setattr__(self, "allow", tuple(r.text for r in self._allow))
        object.__setattr__(self, "deny", tuple(r.text for r in self._deny))
        for name in _LIMIT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"network {name} must be a positive integer, not {value!r}")
        timeout = self.connect_timeout
        if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                or not math.isfinite(timeout) or timeout <= 0):
            raise ValueError(f"network connect_timeout must be a positive number of seconds, "
                             f"not {timeout!r}")
        if self.ca_bundle is not None and (not isinstance(self.ca_bundle, str)
                                           or not self.ca_bundle.strip()):
            raise ValueError(f"network ca_bundle must be a file path or null, not "
                             f"{self.ca_bundle!r}")
        object.__setattr__(self, "_inject", tuple(_parse_injection(item)
                                                  for item in self.inject_headers))
        object.__setattr__(self, "inject_headers", tuple((r.text, h, v)
                                                         for r, h, v in self._inject))
        if self.ceiling is not None and not isinstance(self.ceiling, NetworkPolicy):
            raise ValueError("network ceiling must be a NetworkPolicy")

    # -- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The policy as JSON. Injected headers appear by host and name only: values are secrets
        the guest and API callers never see."""
        data: dict[str, Any] = {
            "enabled": self.enabled, "allow": list(self.allow), "deny": list(self.deny),
            "max_connections": self.max_connections,
            "max_bytes_per_cell": self.max_bytes_per_cell,
            "max_bytes_per_sandbox": self.max_bytes_per_sandbox,
            "connect_timeout": self.connect_timeout, "ca_bundle": self.ca_bundle,
            "inject_headers": [{"host": rule, "header": header}
                               for rule, header, _ in self.inject_headers],
        }
        if self.ceiling is not None:
            data["administrator"] = self.ceiling.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NetworkPolicy:
        """A policy from JSON (the keys of :meth:`to_json`, all optional; ``inject_headers``
        items also carry ``value``). Unknown keys and bad values raise ValueError."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a network policy must be a JSON object, not {type(data).__name__}")
        known = {"enabled", "allow", "deny", "connect_timeout", "ca_bundle", "inject_headers",
                 *_LIMIT_FIELDS}
        unknown = sorted(str(k) for k in data if k not in known and k != "administrator")
        if unknown:
            raise ValueError(f"unknown network policy field(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}")
        kwargs: dict[str, Any] = {}
        for key in ("enabled", "connect_timeout", "ca_bundle", *_LIMIT_FIELDS):
            if key in data:
                kwargs[key] = data[key]
        for key in ("allow", "deny"):
            if key in data:
                if not isinstance(data[key], list):
                    raise ValueError(f"network {key} must be a list of rule strings")
                kwargs[key] = tuple(data[key])
        if "inject_headers" in data:
            items = data["inject_headers"]
            if not isinstance(items, list):
                raise ValueError("network inject_headers must be a list of "
                                 "{host, header, value} objects")
            kwargs["inject_headers"] = tuple(_injection_from_json(item) for item in items)
        return cls(**kwargs)

    # -- what the broker asks ------------------------------------------------------------------
    def headers_for(self, host: str, port: int) -> list[tuple[str, str]]:
        """Headers the host adds to requests for ``host`` (as the guest wrote it) on ``port``."""
        try:
            name = canonical_host(host)
        except ValueError:
            return []
        out = []
        for rule, header, value in self._inject:
            if isinstance(name, str):
                if rule.matches_name(name, port):
                    out.append((header, value))
            elif rule.matches_address(name, port):
                out.append((header, value))
        return out

    @property
    def restricts_hosts(self) -> bool:
        """Whether an allow list or a deny list is set (not only on/off)."""
        return bool(self.allow or self.deny)


def _parse_injection(item: object) -> tuple[Rule, str, str]:
    if not isinstance(item, tuple) or len(item) != 3 or not all(isinstance(x, str) for x in item):
        raise ValueError("each inject_headers item must be (host rule, header name, value)")
    rule_text, header, value = item
    rule = parse_rule(rule_text)
    if not _HEADER_NAME.match(header):
        raise ValueError(f"bad injected header name {header!r}: letters, digits and "
                         "!#$%&'*+.^_`|~- only")
    if len(value) > MAX_HEADER_VALUE or any(c in value for c in "\r\n\0"):
        raise ValueError(f"bad value for injected header {header!r}: no CR, LF or NUL, at most "
                         f"{MAX_HEADER_VALUE} characters")
    return rule, header, value


def _injection_from_json(item: object) -> tuple[str, str, str]:
    if not isinstance(item, Mapping) or set(item) != {"host", "header", "value"}:
        raise ValueError("each inject_headers item must be an object with exactly host, header "
                         "and value")
    return (item["host"], item["header"], item["value"])


#: Parts of a policy only the administrator sets (host paths, secrets, timeouts).
_ADMIN_ONLY = ("ca_bundle", "inject_headers", "connect_timeout")


def narrowed(admin: NetworkPolicy, request: Mapping[str, Any]) -> NetworkPolicy:
    """The policy an API caller asks for (``enabled``, ``allow``, ``deny``, the limits), within
    ``admin``: the result never allows what ``admin`` refuses.

    The API may only narrow: it can turn the network off, add deny rules, set its own allow list
    (a connection then needs both lists' consent) and lower limits. It cannot turn on a network
    the administrator left off, raise a limit, or set ``ca_bundle``/``inject_headers`` (host
    paths and secrets are the administrator's). ValueError explains a refused request.
    """
    admin = admin.ceiling or admin
    if not isinstance(request, Mapping):
        raise ValueError(f"a network policy must be a JSON object, not {type(request).__name__}")
    current = admin.to_json()
    forbidden = sorted(k for k in _ADMIN_ONLY if k in request and request[k] != current[k])
    if forbidden:
        raise PolicyWideningError(f"{', '.join(forbidden)} can only be set by the "
                                  "administrator (SandboxKernel.network_* traits), not through "
                                  "the API")
    # What GET returned may be sent back as it is: the read-only parts are dropped here.
    request = {k: v for k, v in request.items() if k not in _ADMIN_ONLY and k != "administrator"}
    asked = NetworkPolicy.from_json(request)
    if asked.enabled and not admin.enabled:
        raise PolicyWideningError("network is off for this sandbox and the API cannot turn it "
                                  "on: the administrator can enable it with "
                                  "SandboxKernel.network = True")
    limits = {}
    for name in _LIMIT_FIELDS:
        mine, theirs = getattr(admin, name), getattr(asked, name)
        if name in request and theirs > mine:
            raise PolicyWideningError(f"network {name} {theirs} is above the administrator's "
                                      f"{mine}; the API may only lower it")
        limits[name] = theirs if name in request else mine
    return NetworkPolicy(
        enabled=asked.enabled if "enabled" in request else admin.enabled,
        allow=asked.allow, deny=tuple(dict.fromkeys(asked.deny)),
        connect_timeout=admin.connect_timeout, ca_bundle=admin.ca_bundle,
        inject_headers=admin.inject_headers, ceiling=admin, **limits)


# -- checks ------------------------------------------------------------------------------------

def _port_error(port: object) -> str | None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        return f"port {port!r} is not a port number 1-65535"
    return None


def _before_rules(policy: NetworkPolicy, port: int,
                  ask_ceiling: Callable[[NetworkPolicy], Decision]) -> Decision | None:
    """What is decided before the policy's own rules, the same for names and addresses: a
    refusal by the ceiling (``ask_ceiling`` puts the same question to it), the network being
    off, a port out of range. ``None``: go on to the rules."""
    if policy.ceiling is not None:
        first = ask_ceiling(policy.ceiling)
        if not first.allowed:
            return _from_ceiling(first)
    if not policy.enabled:
        return _off(policy)
    problem = _port_error(port)
    if problem:
        return Decision(False, problem)
    return None


def check_name(policy: NetworkPolicy, host: str, port: int) -> Decision:
    """Before resolving: may the guest connect to ``host`` (as it wrote it) on ``port``?

    Allowed here only means "go on and resolve": every resolved address still goes through
    :func:`check_address`. Numeric hosts (``2130706433``, ``0x7f.1``, ``[::1]``) are read as
    the addresses they are and checked as such.
    """
    first = _before_rules(policy, port, lambda ceiling: check_name(ceiling, host, port))
    if first is not None:
        return first
    try:
        name = canonical_host(host)
    except ValueError as exc:
        return Decision(False, str(exc))
    if not isinstance(name, str):
        return _check_address(policy, str(name), name, port)
    for rule in policy._deny:
        if rule.matches_name(name, port):
            return Decision(False, f"deny rule {rule.text!r} matches {name}:{port}", rule.text)
    if not policy._allow:
        return Decision(True, "the network is on and no allow list is set")
    for rule in policy._allow:
        if rule.matches_name(name, port):
            return Decision(True, f"allow rule {rule.text!r}", rule.text)
    if any(rule.network is not None and rule.matches_port(port) for rule in policy._allow):
        return Decision(True, f"{name} may resolve to an address an allow rule names")
    return Decision(False, f"no allow rule matches {name}:{port} (allowed: "
                           f"{_listing(policy.allow)})")


def check_deny(policy: NetworkPolicy, host: str, port: int) -> Decision:
    """Only the deny rules (the policy's and its ceiling's) against ``host`` as written (a name,
    or an address for numeric forms) and ``port``: for locations the administrator chose, such
    as ``%pip``'s index, which the allow list and the special ranges do not apply to."""
    try:
        name = canonical_host(host)
    except ValueError as exc:
        return Decision(False, str(exc))
    reached = [] if isinstance(name, str) else destination_addresses(name)
    layer: NetworkPolicy | None = policy
    while layer is not None:
        for rule in layer._deny:
            if (isinstance(name, str) and rule.matches_name(name, port)) or any(
                    rule.matches_address(a, port) for a in reached):
                return Decision(False, f"deny rule {rule.text!r} matches {name}:{port}",
                                rule.text)
        layer = layer.ceiling
    return Decision(True, "no deny rule matches")


def check_address(policy: NetworkPolicy, host: str, address: str, port: int) -> Decision:
    """At connect time: may the guest connect to ``address`` (resolved from ``host``) on
    ``port``? ``address`` is what the host's resolver returned (canonical IP text); anything
    else is refused. This is the check that stops DNS rebinding and redirects to internal
    addresses (see the module docstring for what counts as an explicit allow)."""
    first = _before_rules(policy, port,
                          lambda ceiling: check_address(ceiling, host, address, port))
    if first is not None:
        return first
    try:
        ip = _unwrap(_parse_address(address))
    except ValueError:
        return Decision(False, f"{address!r} is not an IP address")
    return _check_address(policy, host, ip, port)


def _check_address(policy: NetworkPolicy, host: str, ip: IPAddress, port: int) -> Decision:
    try:
        name = canonical_host(host)
    except ValueError:
        name = str(ip)
    reached = destination_addresses(ip)
    where = f"{ip}:{port}" if ip.version == 4 else f"[{ip}]:{port}"
    for rule in policy._deny:
        if (isinstance(name, str) and rule.matches_name(name, port)) or any(
                rule.matches_address(a, port) for a in reached):
            return Decision(False, f"deny rule {rule.text!r} matches {_shown(name, where)}",
                            rule.text)
    decided: Decision | None = None
    if not policy._allow:
        decided = Decision(True, "the network is on and no allow list is set")
    else:
        for rule in policy._allow:
            if (isinstance(name, str) and rule.matches_name(name, port)) or all(
                    rule.matches_address(a, port) for a in reached):
                decided = Decision(True, f"allow rule {rule.text!r}", rule.text)
                break
    if decided is None:
        return Decision(False, f"no allow rule matches {_shown(name, where)} (allowed: "
                               f"{_listing(policy.allow)})")
    if policy.ceiling is not None and not policy._allow:
        # narrowed without an allow list of its own: the administrator's policy (checked
        # first) decided about special addresses; an API change only adds deny rules here
        return Decision(True, "the administrator's policy allows it")
    for a in reached:
        special = special_range(a)
        if special is None:
            continue
        explicit = next((r for r in policy._allow if r.names_address_in(a, special, port)), None)
        if explicit is None:
            via = f" ({ip} reaches {a})" if a != ip else ""
            article = "an" if special.kind[0] in "aeiou" else "a"
            return Decision(False, f"{a} is {article} {special.kind} address{via}, refused "
                                   f"unless an allow rule names it (an address or a range inside "
                                   f"{special.network}; a host name does not count)")
        decided = Decision(True, f"allow rule {explicit.text!r} names {special.kind} address "
                                 f"{a}", explicit.text)
    return decided


def _off(policy: NetworkPolicy) -> Decision:
    if policy.ceiling is not None:
        return Decision(False, NETWORK_OFF_BY_API)
    return Decision(False, NETWORK_OFF)


def _from_ceiling(decision: Decision) -> Decision:
    if decision.reason == NETWORK_OFF:
        return decision
    return Decision(False, f"the administrator's policy: {decision.reason}", decision.rule)


def _shown(name: str | IPAddress, where: str) -> str:
    if isinstance(name, str) and name != where.rsplit(":", 1)[0].strip("[]"):
        return f"{name} ({where})"
    return where


def _listing(rules: tuple[str, ...]) -> str:
    shown = ", ".join(repr(r) for r in rules[:5])
    return shown + (f" and {len(rules) - 5} more" if len(rules) > 5 else "")
