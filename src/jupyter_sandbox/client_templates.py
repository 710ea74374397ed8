"""Templates, for the Python client: ``client.templates`` (``client.AsyncSandboxClient`` and
``client.SandboxClient``). A template is a named snapshot of a running sandbox — its variables,
imports and files — kept by the server; new sandboxes start from it::

    client.templates.create("with-pandas", sandbox)      # or a sandbox id
    with client.create(template="with-pandas") as sandbox:
        sandbox.exec("pd.__version__")
    client.templates.list()                             # [{"name", "size", "created"}]
    client.templates.delete("with-pandas")

The REST routes behind it are ``sandbox/api/v1/templates`` (``server_extension/service/
templates.py``).
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import AsyncSandbox, AsyncSandboxClient, Sandbox, SandboxClient


def _sandbox_id(sandbox: str | AsyncSandbox | Sandbox) -> str:
    return sandbox if isinstance(sandbox, str) else sandbox.id


class AsyncTemplates:
    """The server's templates (``await client.templates.list()`` ...)."""

    def __init__(self, client: AsyncSandboxClient) -> None:
        self._client = client

    async def create(self, name: str, sandbox: str | AsyncSandbox | Sandbox) -> dict[str, Any]:
        """Save ``sandbox``'s state now as template ``name`` (``SandboxServiceError`` 409 when
        the name is taken, 400 for a name that is not 1-100 of ``[A-Za-z0-9_-]``)."""
        body = {"name": name, "sandbox_id": _sandbox_id(sandbox)}
        info: dict[str, Any] = await self._client._json("POST", "templates", json=body,
                                                        what="save a template")
        return info

    async def list(self) -> list[dict[str, Any]]:
        listing = await self._client._json("GET", "templates", what="list templates")
        templates: list[dict[str, Any]] = listing["templates"]
        return templates

    async def delete(self, name: str) -> None:
        await self._client._request("DELETE", "templates/" + urllib.parse.quote(name, safe=""),
                                    what=f"template {name!r}")


class Templates:
    """The synchronous ``AsyncTemplates`` (``client.templates`` of ``SandboxClient``)."""

    def __init__(self, client: SandboxClient, templates: AsyncTemplates) -> None:
        self._client = client
        self._async = templates

    def create(self, name: str, sandbox: str | AsyncSandbox | Sandbox) -> dict[str, Any]:
        return self._client._loop.run(self._async.create(name, sandbox))

    def list(self) -> list[dict[str, Any]]:
        return self._client._loop.run(self._async.list())

    def delete(self, name: str) -> None:
        self._client._loop.run(self._async.delete(name))


__all__ = ["AsyncTemplates", "Templates"]
