"""``POST sandbox/api/v1/sandboxes {"template": name}``: a new sandbox holding a template's
state (``template_store``).

The sandbox is started as any other — handed over from the warm pool when a kernel is idle,
else a kernel started normally — then the template is restored into it (``PUT /snapshot`` on
its control socket). So every template is checked the same way, by the kernel: one that does
not verify (its signature, or a size beyond the sandbox's limits) is refused with 400
``bad_template`` and the new sandbox deleted again, rather than starting clean as if nothing
had happened (what a kernel does with an unusable start snapshot).
"""

from __future__ import annotations

from typing import Any

from ..control_client import ControlError
from .errors import ServiceError
from .lifecycle import Lifecycle
from .registry import SandboxRecord, SandboxRegistry
from .template_store import TemplateStore


async def create_from_template(registry: SandboxRegistry, store: TemplateStore, name: object,
                               limits: Any, metadata: Any,
                               lifecycle: Lifecycle | None = None) -> SandboxRecord:
    """A new sandbox holding template ``name``'s state."""
    data = store.load(name)
    record = await registry.create(limits, metadata, lifecycle=lifecycle)
    try:
        async with registry.use(record) as kernel_id:
            await registry.control.request(kernel_id, "PUT", "/snapshot", data)
    except ControlError as exc:
        await registry.delete(record)
        if exc.code == "bad_snapshot":
            raise ServiceError(400, f"template {name!r} cannot be used: {exc.message}",
                               "bad_template", hint=f"DELETE sandbox/api/v1/templates/{name} "
                               "and save it again from a running sandbox") from exc
        raise
    except BaseException:
        await registry.delete(record)
        raise
    # The template's state is on disk as this sandbox's recovery point at once: a server
    # killed before the first idle checkpoint resumes it with the template, not clean.
    await registry.checkpoint(record)
    return record
