"""The preview host pattern (``SandboxExtensionApp.preview_host``): which host names are
preview origins, which kernel and port each one names, and the host of a given preview.

``{port}-{kernel}.localhost`` gives ``8000-<kernel id>.localhost``; browsers resolve every
``*.localhost`` name to loopback, so this works on a laptop without DNS set-up. A deployment
uses a wildcard DNS record and certificate, e.g. ``{port}-{kernel}.preview.example.com``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: What ``{port}`` and ``{kernel}`` match in a host name (Jupyter kernel ids are UUIDs; tornado
#: lower-cases the host before matching).
_PORT = r"(?P<port>[0-9]{1,5})"
_KERNEL = r"(?P<kernel>[0-9a-f][0-9a-f-]{0,62})"
_LITERAL = re.compile(r"^[a-z0-9.-]*$")


class PreviewHostError(ValueError):
    """``preview_host`` is not a usable host pattern."""

    def __init__(self, pattern: str, why: str) -> None:
        super().__init__(
            f"SandboxExtensionApp.preview_host={pattern!r} is not a usable host pattern: {why}. "
            "Use a host name containing {port} and {kernel} once each and no port, e.g. "
            "'{port}-{kernel}.localhost' or '{port}-{kernel}.preview.example.com'.")


@dataclass(frozen=True)
class PreviewTarget:
    kernel_id: str
    port: int


@dataclass(frozen=True)
class PreviewHosts:
    """A parsed ``preview_host`` pattern."""

    pattern: str

    def __post_init__(self) -> None:
        for field in ("{port}", "{kernel}"):
            if self.pattern.count(field) != 1:
                raise PreviewHostError(self.pattern, f"it must contain {field} exactly once")
        literal = self.pattern.replace("{port}", "").replace("{kernel}", "")
        if not _LITERAL.match(literal.lower()):
            raise PreviewHostError(self.pattern, "only letters, digits, '-' and '.' may "
                                   "surround the fields (no scheme, port or path)")
        if "." not in literal.strip("."):
            raise PreviewHostError(self.pattern, "it needs a domain after the fields, such as "
                                   ".localhost")

    @property
    def regex(self) -> str:
        """The host regex for tornado's ``add_handlers`` (matched against the host name
        without port, lower-cased; tornado appends ``$``)."""
        parts = re.split(r"(\{port\}|\{kernel\})", self.pattern.lower())
        fields = {"{port}": _PORT, "{kernel}": _KERNEL}
        return "^" + "".join(fields.get(part, re.escape(part)) for part in parts) + "$"

    def target(self, host_name: str) -> PreviewTarget | None:
        """The preview a host name (without port) names, or None if it is not a preview host."""
        match = re.match(self.regex, host_name.lower())
        if match is None or not 1 <= int(match["port"]) <= 65535:
            return None
        return PreviewTarget(match["kernel"], int(match["port"]))

    def host(self, kernel_id: str, port: int) -> str:
        """The host name (without port) of the preview of ``kernel_id`` on ``port``."""
        return self.pattern.replace("{port}", str(int(port))).replace("{kernel}", kernel_id).lower()
