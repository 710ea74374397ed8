"""The warm pool's and the templates' part of the service's OpenAPI document (``openapi``
merges ``SCHEMAS`` and ``PATHS`` into its own): ``GET /pool``, ``GET/POST /templates``,
``DELETE /templates/{name}``."""

from __future__ import annotations

from typing import Any

_REF = "#/components/schemas/"
_ERROR = {"default": {"description": "An error: the status says which, the body why",
                      "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}}}}
#: The snapshot-name rule of ``control_protocol`` (``runtime.snapshot_names``).
_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}


def _ok(status: str, schema: str, description: str) -> dict[str, Any]:
    return {status: {"description": description,
                     "content": {"application/json": {"schema": {"$ref": _REF + schema}}}},
            **_ERROR}


_MAYBE = {"type": "number", "nullable": True}
SCHEMAS: dict[str, Any] = {
    "PoolStats": {
        "type": "object", "additionalProperties": False,
        "required": ["size", "memory_budget_mib", "idle", "starting", "in_use", "hits",
                     "misses", "failures", "handover_p50_ms", "kernel_rss_mib"],
        "description": "The warm pool (SandboxExtensionApp.pool_size; 0: off)",
        "properties": {
            "size": {"type": "integer", "description": "Kernels it keeps ready"},
            "memory_budget_mib": {"type": "integer",
                                  "description": "For its idle kernels together; 0: none"},
            "idle": {"type": "integer", "description": "Ready to be handed over"},
            "starting": {"type": "integer", "description": "Being started to refill it"},
            "in_use": {"type": "integer",
                       "description": "Handed over and still running as sandboxes"},
            "hits": {"type": "integer", "description": "Creates served by the pool"},
            "misses": {"type": "integer",
                       "description": "Creates that found it empty and started a kernel"},
            "failures": {"type": "integer", "description": "Pooled kernels that failed to start"},
            "handover_p50_ms": {**_MAYBE, "description": "Median hand-over time (recent ones)"},
            "kernel_rss_mib": {**_MAYBE,
                               "description": "Largest resident size seen of an idle one"}},
    },
    "CreateTemplate": {
        "type": "object", "required": ["name", "sandbox_id"], "additionalProperties": False,
        "properties": {"name": _NAME, "sandbox_id": {"type": "string",
                                                    "description": "A running sandbox"}},
    },
    "Template": {
        "type": "object", "required": ["name", "size", "created"], "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "size": {"type": "integer"},
                       "created": {"type": "number"}},
    },
    "TemplateList": {
        "type": "object", "required": ["templates"], "additionalProperties": False,
        "properties": {"templates": {"type": "array", "items": {"$ref": _REF + "Template"}}},
    },
}

PATHS: dict[str, Any] = {
    "/pool": {
        "get": {"summary": "The warm pool's statistics", "operationId": "poolStats",
                "responses": _ok("200", "PoolStats", "The statistics")},
    },
    "/templates": {
        "get": {"summary": "List the templates", "operationId": "listTemplates",
                "responses": _ok("200", "TemplateList", "The templates")},
        "post": {"summary": "Save a running sandbox's state as a named template (409 when the "
                            "name is taken)", "operationId": "createTemplate",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": _REF + "CreateTemplate"}}}},
                 "responses": _ok("201", "Template", "Saved")},
    },
    "/templates/{name}": {
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": _NAME}],
        "delete": {"summary": "Delete a template", "operationId": "deleteTemplate",
                   "responses": {"204": {"description": "Done"}, **_ERROR}},
    },
}
