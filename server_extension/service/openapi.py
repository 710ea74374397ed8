"""The OpenAPI 3 document of the sandbox service, served at
``{base_url}sandbox/api/v1/openapi.json``. It describes every route of ``service/`` exactly;
a test runs schemathesis against it."""

from __future__ import annotations

import copy
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from . import openapi_pool
from .base import ServiceHandler
from .lifecycle import LifecyclePolicy, StopReason
from .registry import SandboxLimits
from .sandboxes import PREFIX

_REF = "#/components/schemas/"


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": _REF + schema}}}}


_ERROR = {"default": _json("Error", "An error: the status says which, the body why")}
_ID = {"name": "sandbox_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PATH = {"name": "path", "in": "path", "required": True,
         "description": "A path in the sandbox, relative to /workspace or absolute",
         "schema": {"type": "string"}}
_FLAG = {"type": "string", "enum": [""]}
_PID = {"name": "pid", "in": "path", "required": True, "description": "A process id",
        "schema": {"type": "integer", "minimum": 0}}
_NO_CONTENT = {"204": {"description": "Done"}}
_TIME = {"type": "number", "nullable": True}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **_ERROR}, **extra}


def _body(schema: str) -> dict[str, Any]:
    return {"required": False,
            "content": {"application/json": {"schema": {"$ref": _REF + schema}}}}


_RULES = {"type": "array", "items": {"type": "string"},
          "description": "Rules: 'example.com', '*.example.com', 'api.example.com:443', "
                         "'10.0.0.0/8', '127.0.0.1:8080', '[::1]:80', '*'"}
_POSITIVE = {"type": "integer", "minimum": 1}
_POLICY_FIELDS: dict[str, Any] = {
    "enabled": {"type": "boolean"}, "allow": _RULES, "deny": _RULES,
    "max_connections": _POSITIVE, "max_bytes_per_cell": _POSITIVE,
    "max_bytes_per_sandbox": _POSITIVE,
}
_INJECTED = {"type": "array", "items": {
    "type": "object", "required": ["host", "header"], "additionalProperties": False,
    "properties": {"host": {"type": "string"}, "header": {"type": "string"}}},
    "description": "Headers the host adds for these hosts (values are never shown)"}
_NETWORK_SCHEMAS: dict[str, Any] = {
    "NetworkRequest": {
        "type": "object", "additionalProperties": False,
        "description": "A network policy within the administrator's: the API may turn the "
                       "network off, set its own allow list (a connection needs both), add "
                       "deny rules and lower limits, never widen (403 "
                       "network_not_permitted). Left-out fields keep the administrator's. The "
                       "read-only fields of NetworkPolicy may be sent back unchanged.",
        "properties": {**_POLICY_FIELDS, "connect_timeout": {"type": "number"},
                       "ca_bundle": {"type": "string", "nullable": True},
                       "inject_headers": _INJECTED, "administrator": {"type": "object"}},
    },
    "NetworkPolicy": {
        "type": "object", "additionalProperties": False,
        "required": [*_POLICY_FIELDS, "connect_timeout", "ca_bundle", "inject_headers"],
        "properties": {**_POLICY_FIELDS, "connect_timeout": {"type": "number"},
                       "ca_bundle": {"type": "string", "nullable": True},
                       "inject_headers": _INJECTED,
                       "administrator": {"$ref": _REF + "NetworkPolicy"}},
    },
    "ConnectionRecord": {
        "type": "object", "additionalProperties": False,
        "required": ["host", "address", "port", "allowed", "reason", "bytes_sent",
                     "bytes_received", "started_at", "ended_at", "tls", "tls_peer"],
        "properties": {
            "host": {"type": "string"}, "address": {"type": "string", "nullable": True},
            "port": {"type": "integer"}, "allowed": {"type": "boolean"},
            "reason": {"type": "string", "description": "Why, naming the rule"},
            "bytes_sent": {"type": "integer"}, "bytes_received": {"type": "integer"},
            "started_at": {"type": "number"}, "ended_at": _TIME, "tls": {"type": "boolean"},
            "tls_peer": {"type": "string", "nullable": True,
                         "description": "The name the host verified the certificate for"}},
    },
    "Network": {
        "type": "object", "additionalProperties": False,
        "required": ["policy", "administrator", "connections", "open_connections", "bytes"],
        "properties": {
            "policy": {"$ref": _REF + "NetworkPolicy"},
            "administrator": {"$ref": _REF + "NetworkPolicy"},
            "connections": {"type": "array", "items": {"$ref": _REF + "ConnectionRecord"},
                            "description": "Recent attempts, newest last (at most 100)"},
            "open_connections": {"type": "integer"},
            "bytes": {"type": "integer", "description": "Bytes moved so far, both ways"}},
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["message", "reason", "code", "hint"],
        "additionalProperties": False,
        "description": "The server's one error envelope (jupyter_server's message/reason, "
                       "plus a stable code and what to do next)",
        "properties": {
            "message": {"type": "string", "description": "What went wrong"},
            "reason": {"type": "string", "description": "The HTTP reason phrase"},
            "code": {"type": "string", "description": "Short and stable: branch on it"},
            "hint": {"type": "string", "description": "What to do next (may be empty)"},
            "output": {"type": "array", "items": {"type": "string"},
                       "description": "Only for a refused package request: pip's output"}},
    },
    "Limits": {
        "type": "object", "additionalProperties": False,
        "description": "Lower than the server's defaults only (they are also the maxima)",
        "properties": {"memory_mib": {"type": "integer", "minimum": 64},
                       "workspace_mib": {"type": "integer", "minimum": 1},
                       "cell_timeout": {"type": "number", "minimum": 0,
                                        "description": "Seconds per cell; 0: none"}},
    },
    "CreateSandbox": {
        "type": "object", "additionalProperties": False,
        "not": {"required": ["template", "from_snapshot"],
                "description": "template and from_snapshot exclude each other"},
        "properties": {
            "limits": {"$ref": _REF + "Limits"},
            "metadata": {"type": "object"},
            "from_snapshot": {"type": "object", "additionalProperties": False,
                              "required": ["sandbox_id", "name"],
                              "properties": {"sandbox_id": {"type": "string"},
                                             "name": {"type": "string"}}},
            "template": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$",
                         "description": "Start from this template (not with from_snapshot)"},
            "timeout": {"type": "number", "minimum": 0,
                        "description": "Seconds it may run from its start, resume or last "
                                       "keep_alive; then on_timeout. 0: no limit"},
            "idle_timeout": {"type": "number", "minimum": 0,
                             "description": "Seconds it may stay unused; then on_timeout. "
                                            "0: never"},
            "on_timeout": {"type": "string", "enum": ["stop", "delete"],
                           "description": "stop: snapshot and stop it, the next request "
                                          "resumes it; delete: delete it"},
            "network": {"$ref": _REF + "NetworkRequest"},
        },
    },
    "KeepAlive": {
        "type": "object", "additionalProperties": False,
        "properties": {"timeout": {"type": "number", "minimum": 0,
                                   "description": "A new lifetime in seconds from now "
                                                  "(default: the sandbox's timeout)"}},
    },
    "Sandbox": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "kernel_id", "state", "created", "limits", "metadata"],
        "properties": {
            "id": {"type": "string"},
            "kernel_id": {"type": "string", "nullable": True,
                          "description": "The Jupyter kernel; null while stopped"},
            "state": {"type": "string", "enum": ["running", "stopped", "error"],
                      "description": "stopped: resumed by the next request; error: cannot be "
                                     "used (see error), only GET and DELETE work"},
            "created": {"type": "number", "description": "Wall-clock times: Unix seconds"},
            "limits": {"type": "object", "required": ["memory_mib", "workspace_mib",
                                                      "cell_timeout"],
                       "properties": {"memory_mib": {"type": "integer"},
                                      "workspace_mib": {"type": "integer"},
                                      "cell_timeout": {"type": "number"}}},
            "metadata": {"type": "object"},
            "timeout": {"type": "number"}, "idle_timeout": {"type": "number"},
            "on_timeout": {"type": "string", "enum": ["stop", "delete"]},
            "started_at": _TIME, "last_activity": {"type": "number"},
            "expires_at": {**_TIME, "description": "When its timeout passes; null: never"},
            "stopped_at": _TIME,
            "stopped_reason": {"type": "string", "nullable": True,
                               "enum": [*(r.value for r in StopReason), None],
                               "description": "Why it is stopped; null while running"},
            "checkpointed_at": {**_TIME, "description": "When its last recovery point (what "
                                                        "it resumes from) was written"},
            "error": {"type": "string", "nullable": True,
                      "description": "Why it cannot be used (state error)"},
            "network": {"type": "object", "nullable": True,
                        "description": "The network policy asked for through the API (within "
                                       "the administrator's); null: the administrator's"},
        },
    },
    "SandboxList": {
        "type": "object", "required": ["sandboxes"], "additionalProperties": False,
        "properties": {"sandboxes": {"type": "array", "items": {"$ref": _REF + "Sandbox"}}},
    },
    "Exec": {
        "type": "object", "required": ["code"], "additionalProperties": False,
        "properties": {"code": {"type": "string"},
                       "language": {"type": "string", "enum": ["python", "javascript"],
                                    "description": "python (default): a cell of the "
                                                   "sandbox's kernel; javascript: node -e"}},
    },
    "Command": {
        "type": "object", "required": ["cmd"], "additionalProperties": False,
        "description": "A process to run in the sandbox (never on the host)",
        "properties": {
            "cmd": {"oneOf": [
                {"type": "array", "minItems": 1, "items": {"type": "string"},
                 "description": "argv, run as is: python, pip, node, a built-in command"},
                {"type": "string", "minLength": 1,
                 "description": "a command line for the sandbox's shell (sh -c): pipes, "
                                "redirects, &&, ||, globs, $VAR"}]},
            "cwd": {"type": "string", "minLength": 1,
                    "description": "Working directory (default /workspace)"},
            "env": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Added to the sandbox's environment"},
            "stdin": {"type": "string", "description": "Text for stdin"},
            "stdin_base64": {"type": "string", "format": "byte",
                             "description": "Bytes for stdin (instead of stdin)"},
            "keep_stdin_open": {"type": "boolean",
                                "description": "Keep stdin open after 'stdin' for POST "
                                               ".../stdin (default: background)"},
            "timeout": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                        "description": "Seconds, then the process is killed"},
            "background": {"type": "boolean",
                           "description": "Answer 201 with the process at once"}},
    },
    "Process": {
        "type": "object", "additionalProperties": False,
        "required": ["pid", "argv", "cwd", "state", "exit_code", "started_at", "ended_at",
                     "background", "origin", "memory_bytes"],
        "properties": {
            "pid": {"type": "integer"}, "argv": {"type": "array", "items": {"type": "string"}},
            "cwd": {"type": "string"},
            "state": {"type": "string", "enum": ["running", "exited", "killed"]},
            "exit_code": {"type": "integer", "nullable": True,
                          "description": "null while running; -9 when killed"},
            "started_at": {"type": "number"}, "ended_at": {"type": "number", "nullable": True},
            "background": {"type": "boolean"},
            "origin": {"type": "string", "description": "api, or cell (the notebook's code)"},
            "memory_bytes": {"type": "integer"}},
    },
    "ProcessList": {
        "type": "object", "required": ["processes"], "additionalProperties": False,
        "properties": {"processes": {"type": "array", "items": {"$ref": _REF + "Process"}}},
    },
    "Fork": {
        "type": "object", "additionalProperties": False,
        "properties": {"metadata": {"type": "object"}},
    },
    **_NETWORK_SCHEMAS,
    "Packages": {
        "type": "object", "required": ["action"], "additionalProperties": False,
        "properties": {"action": {"type": "string", "enum": ["install", "uninstall", "list"]},
                       "args": {"type": "array", "items": {"type": "string"}}},
    },
    "PackagesResult": {
        "type": "object", "required": ["result", "output"],
        "properties": {"result": {"type": "array", "items": {"type": "string"}},
                       "output": {"type": "array", "items": {"type": "string"}}},
    },
    "SnapshotName": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}},
    },
    "SnapshotInfo": {
        "type": "object", "required": ["name", "size", "created", "execution_count"],
        "properties": {"name": {"type": "string"}, "size": {"type": "integer"},
                       "created": {"type": "number"}, "execution_count": {"type": "integer"}},
    },
    "SnapshotList": {
        "type": "object", "required": ["snapshots"],
        "properties": {"snapshots": {"type": "array", "items": {"$ref": _REF + "SnapshotInfo"}}},
    },
    "PreviewList": {
        "type": "object", "required": ["previews"],
        "properties": {"previews": {"type": "array", "items": {
            "type": "object", "required": ["port", "path", "url"],
            "properties": {"port": {"type": "integer"}, "path": {"type": "string"},
                           "url": {"type": "string"}}}}},
    },
    "FileInfo": {
        "type": "object", "required": ["path", "name", "type", "size", "mtime_ns"],
        "properties": {"path": {"type": "string"}, "name": {"type": "string"},
                       "type": {"type": "string", "enum": ["file", "directory"]},
                       "size": {"type": "integer"}, "mtime_ns": {"type": "integer"}},
    },
    "FileList": {
        "type": "object", "required": ["path", "files"],
        "properties": {"path": {"type": "string"},
                       "files": {"type": "array", "items": {"$ref": _REF + "FileInfo"}}},
    },
}

_SANDBOX = {"parameters": [_ID]}
PATHS: dict[str, Any] = {
    "/sandboxes": {
        "get": _op("List the sandboxes", {"200": _json("SandboxList", "The sandboxes")},
                   operationId="listSandboxes"),
        "post": _op("Create a sandbox (429 when the server runs its maximum)",
                    {"201": _json("Sandbox", "The new sandbox, running")},
                    operationId="createSandbox", requestBody=_body("CreateSandbox")),
    },
    "/sandboxes/{sandbox_id}": {
        **_SANDBOX,
        "get": _op("Describe a sandbox", {"200": _json("Sandbox", "The sandbox")},
                   operationId="getSandbox"),
        "delete": _op("Delete a sandbox: gone from every route at once; its kernel is shut "
                      "down and its files removed in the background", _NO_CONTENT,
                      operationId="deleteSandbox"),
    },
    "/sandboxes/{sandbox_id}/exec": {
        **_SANDBOX,
        "post": _op("Run code; output streams as NDJSON, one Jupyter message per line, ending "
                    "with an execute_reply line",
                    {"200": {"description": "Jupyter messages, one JSON object per line",
                             "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}},
                    operationId="execSandbox",
                    requestBody={**_body("Exec"), "required": True}),
    },
    "/sandboxes/{sandbox_id}/commands": {
        **_SANDBOX,
        "get": _op("The sandbox's processes (running and recently ended)",
                   {"200": _json("ProcessList", "The processes")}, operationId="listCommands"),
        "post": _op(
            "Run a command in the sandbox. Foreground: NDJSON lines as it runs — "
            '{"type": "start", "pid"}, {"type": "stdout"|"stderr", "data", "offset", '
            '"base64"?} (base64: the exact bytes when data, UTF-8 with replacement, is not), '
            '{"type": "exit", "pid", "exit_code", "state"}; blank lines are keep-alives. '
            "A program the sandbox cannot run exits 127. Background: 201 and the process. "
            "429 too_many_processes, 409 memory_limit, 400 program_not_found (background)",
            {"200": {"description": "Command lines, one JSON object per line",
                     "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
             "201": _json("Process", "Started in the background")},
            operationId="runCommand", requestBody={**_body("Command"), "required": True}),
    },
    "/sandboxes/{sandbox_id}/commands/{pid}": {
        "parameters": [_ID, _PID],
        "get": _op("A process", {"200": _json("Process", "The process")},
                   operationId="getCommand"),
        "delete": _op("Kill a process (nothing when it has ended)", _NO_CONTENT,
                      operationId="killCommand"),
    },
    "/sandboxes/{sandbox_id}/commands/{pid}/logs": {
        "parameters": [_ID, _PID],
        "get": _op(
            "The process's output from the start (or ?offset=N: from chunk N) as the NDJSON "
            "lines of a foreground run, live until it ends, then the exit line; every GET "
            "starts again (re-attach)",
            {"200": {"description": "Output lines, then the exit line",
                     "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}},
            operationId="commandLogs",
            parameters=[{"name": "offset", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 0}}]),
    },
    "/sandboxes/{sandbox_id}/commands/{pid}/stdin": {
        "parameters": [_ID, _PID],
        "post": _op("Write the body's bytes to the process's stdin; ?close: then close it "
                    "(409 stdin_closed once closed or ended)", _NO_CONTENT,
                    operationId="commandStdin",
                    parameters=[{"name": "close", "in": "query", "required": False,
                                 "schema": _FLAG, "allowEmptyValue": True}],
                    requestBody={"required": False, "content": {"application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"}}}}),
    },
    "/sandboxes/{sandbox_id}/keep_alive": {
        **_SANDBOX,
        "post": _op("Reset the idle timer and restart the lifetime (a stopped sandbox stays "
                    "stopped until its next use)",
                    {"200": _json("Sandbox", "The sandbox")}, operationId="keepAliveSandbox",
                    requestBody=_body("KeepAlive")),
    },
    "/sandboxes/{sandbox_id}/interrupt": {
        **_SANDBOX,
        "post": _op("Interrupt the running code", _NO_CONTENT, operationId="interruptSandbox"),
    },
    "/sandboxes/{sandbox_id}/fork": {
        **_SANDBOX,
        "post": _op("A new sandbox started from a snapshot of this one",
                    {"201": _json("Sandbox", "The fork, running")},
                    operationId="forkSandbox", requestBody=_body("Fork")),
    },
    "/sandboxes/{sandbox_id}/network": {
        **_SANDBOX,
        "get": _op("The network policy in force, the administrator's, recent connections",
                   {"200": _json("Network", "The policy and the audit")},
                   operationId="getNetwork"),
        "put": _op("Change the network policy from the next connection on (only narrowing "
                   "the administrator's)", {"200": _json("Network", "The policy now")},
                   operationId="updateNetwork",
                   requestBody={**_body("NetworkRequest"), "required": True}),
    },
    "/sandboxes/{sandbox_id}/packages": {
        **_SANDBOX,
        "post": _op("Install, uninstall or list pure-Python packages (as %pip)",
                    {"200": _json("PackagesResult", "pip's result and output lines")},
                    operationId="sandboxPackages",
                    requestBody={**_body("Packages"), "required": True}),
    },
    "/sandboxes/{sandbox_id}/snapshots": {
        **_SANDBOX,
        "get": _op("List the sandbox's named snapshots",
                   {"200": _json("SnapshotList", "The snapshots")}, operationId="listSnapshots"),
        "post": _op("Save a named snapshot", {"201": _json("SnapshotInfo", "Saved")},
                    operationId="saveSnapshot",
                    requestBody={**_body("SnapshotName"), "required": True}),
    },
    "/sandboxes/{sandbox_id}/previews": {
        **_SANDBOX,
        "get": _op("The preview apps registered in the sandbox",
                   {"200": _json("PreviewList", "The previews")}, operationId="listPreviews"),
    },
    "/sandboxes/{sandbox_id}/files/{path}": {
        "parameters": [_ID, _PATH],
        "get": _op(
            "Download a file, or with ?list list a folder",
            {"200": {"description": "The file's bytes, or with ?list the folder's entries",
                     "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                         "format": "binary"}},
                                 "application/json": {"schema": {"$ref": _REF + "FileList"}}}}},
            operationId="readFile",
            parameters=[{"name": "list", "in": "query", "required": False, "schema": _FLAG,
                         "allowEmptyValue": True}]),
        "put": _op("Create or replace a file (parent folders are made)",
                   {"201": _json("FileInfo", "Written")}, operationId="writeFile",
                   requestBody={"required": True, "content": {"application/octet-stream": {
                       "schema": {"type": "string", "format": "binary"}}}}),
        "delete": _op("Delete a file, or with ?recursive a folder", _NO_CONTENT,
                      operationId="deleteFile",
                      parameters=[{"name": "recursive", "in": "query", "required": False,
                                   "schema": _FLAG, "allowEmptyValue": True}]),
    },
}
SCHEMAS.update(openapi_pool.SCHEMAS)
PATHS.update(openapi_pool.PATHS)


def _limits_schema(ceiling: SandboxLimits) -> dict[str, Any]:
    """``Limits`` with this server's maxima (its configured defaults)."""
    schema = copy.deepcopy(SCHEMAS["Limits"])
    fields = schema["properties"]
    fields["memory_mib"]["maximum"] = ceiling.memory_mib
    fields["workspace_mib"]["maximum"] = ceiling.workspace_mib
    if ceiling.cell_timeout > 0:
        fields["cell_timeout"].update(maximum=ceiling.cell_timeout, exclusiveMinimum=True)
    return schema


def _lifecycle_schemas(policy: LifecyclePolicy) -> dict[str, Any]:
    """``CreateSandbox`` and ``KeepAlive`` with this server's maximum timeouts."""
    create, keep_alive = copy.deepcopy(SCHEMAS["CreateSandbox"]), copy.deepcopy(
        SCHEMAS["KeepAlive"])
    for fields, name, maximum in (
            (create["properties"], "timeout", policy.max_timeout),
            (create["properties"], "idle_timeout", policy.max_idle_timeout),
            (keep_alive["properties"], "timeout", policy.max_timeout)):
        if maximum > 0:  # then 0 (none) is refused too
            fields[name].update(maximum=maximum, exclusiveMinimum=True)
    return {"CreateSandbox": create, "KeepAlive": keep_alive}


def document(base_url: str, ceiling: SandboxLimits,
             lifecycle: LifecyclePolicy | None = None) -> dict[str, Any]:
    schemas = {**SCHEMAS, "Limits": _limits_schema(ceiling)}
    if lifecycle is not None:
        schemas.update(_lifecycle_schemas(lifecycle))
    return {
        "openapi": "3.0.3",
        "info": {"title": "jupyter-sandbox: sandboxes as a service", "version": "1",
                 "description": "Sandboxed Python kernels to create, run code in, move files "
                                "in and out of, snapshot and fork. Jupyter auth: "
                                "'Authorization: token ...' or cookie + XSRF."},
        "servers": [{"url": base_url.rstrip("/") + PREFIX}],
        "security": [{"token": []}],
        "components": {"schemas": schemas, "securitySchemes": {"token": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "'token <the server's token>'"}}},
        "paths": PATHS,
    }


class OpenAPIHandler(ServiceHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send_json(document(self.base_url, self.registry.limits, self.registry.lifecycle))


ROUTES = [(PREFIX + r"/openapi.json", OpenAPIHandler)]
