"""``%pip`` and the sandbox's network policy (issue 16, item 5).

pip runs on the host, as the host, with the administrator's pip configuration: it is not a
guest connection, so the broker never sees it. Where the administrator turned the sandbox's
network on *with rules* (an allow or a deny list, theirs or narrowed through the API), the
locations pip would fetch from must also pass that policy, so a rule such as
``deny = ["pypi.org"]`` or an allow list without the index also holds for ``%pip``:

* the administrator's index (``PackagePolicy.index_url``, else ``PIP_INDEX_URL``, else pip's
  default ``https://pypi.org/simple``) must match no deny rule. The allow list and the special
  address ranges do not apply to it: the administrator chose it (a local devpi on 127.0.0.1
  is fine);
* every location a cell names (``-i``, ``--extra-index-url``, ``-f URL``, ``NAME @ URL``, when
  ``PackagePolicy.user_indexes`` lets cells name any) gets the whole name check,
  ``policy.check_name``: deny rules, the allow list, and special addresses written as
  literals (``http://169.254.169.254/``).

What is not enforced: pip resolves names itself, so the check is on the URL's host as written,
not on the address it resolves to (the broker's connect-time check does not apply); pip's own
configuration files (``pip.conf``) and ``PIP_EXTRA_INDEX_URL`` are not read. With the network
off, or on without rules, ``%pip`` works as before.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable

from .errors import PackageError
from .network.policy import NetworkPolicy, check_deny, check_name

#: pip's index when neither the administrator nor the environment names one.
PIP_DEFAULT_INDEX = "https://pypi.org/simple"
_PORTS = {"http": 80, "https": 443}


def has_rules(policy: NetworkPolicy) -> bool:
    """Whether the policy is on and restricts hosts (its own rules or its ceiling's)."""
    ceiling = policy.ceiling
    return policy.enabled and (policy.restricts_hosts or (ceiling is not None
                                                          and ceiling.restricts_hosts))


def administrator_index(index_url: str | None) -> str:
    """The index pip uses when the cell names none."""
    return index_url or os.environ.get("PIP_INDEX_URL") or PIP_DEFAULT_INDEX


def _host_port(url: str) -> tuple[str, int] | None:
    """The (host, port) pip connects to for ``url``; None for a non-network URL (file:)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _PORTS:
        return None
    try:
        port = parts.port or _PORTS[scheme]
    except ValueError as exc:
        raise PackageError(f"%pip refused {url!r}: its port is not a number ({exc})") from None
    host = parts.hostname or ""
    return host, port


def check_locations(policy: NetworkPolicy, admin_index: str | None,
                    cell_urls: Iterable[str]) -> None:
    """Raise PackageError naming the rule when the policy refuses where pip would fetch from.

    ``admin_index``: the administrator's index pip would use (None: the cell replaced it or
    gave ``--no-index``); ``cell_urls``: the locations the cell's arguments named.
    """
    if not has_rules(policy):
        return
    if admin_index is not None:
        target = _host_port(admin_index)
        if target is not None:
            decision = check_deny(policy, *target)
            if not decision.allowed:
                raise PackageError(
                    f"%pip refused: the package index {admin_index} is refused by the "
                    f"sandbox's network policy ({decision.reason}). Ask the administrator to "
                    "change the index (SandboxKernel.pip_index_url) or the network rules")
    for url in cell_urls:
        target = _host_port(url)
        if target is None:
            continue
        decision = check_name(policy, *target)
        if not decision.allowed:
            raise PackageError(f"%pip refused: {url} is refused by the sandbox's network "
                               f"policy ({decision.reason})")
