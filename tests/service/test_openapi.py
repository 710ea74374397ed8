"""schemathesis against the sandbox service's OpenAPI document: every documented operation,
with generated requests, answers no 5xx and exactly as the document says."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.server.conftest import Server

API = "sandbox/api/v1/"


@pytest.fixture(scope="module")
def api_schema(service_server: Server) -> Iterator[tuple[schemathesis.BaseSchema, str]]:
    headers = {"Authorization": f"token {service_server.token}"}
    with service_server.client() as http:
        document = http.get(API + "openapi.json")
        document.raise_for_status()
        sandbox_id = http.post(API + "sandboxes", json={}).json()["id"]
    schema = schemathesis.openapi.from_dict(document.json())
    schema.config.update(base_url=service_server.url + API.rstrip("/"), headers=headers,
                         request_timeout=120)
    yield schema, sandbox_id
    with service_server.client() as http:
        for sandbox in http.get(API + "sandboxes").json()["sandboxes"]:
            http.delete(API + f"sandboxes/{sandbox['id']}")


def test_api_matches_its_document(
        api_schema: tuple[schemathesis.BaseSchema, str]) -> None:
    schema, sandbox_id = api_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 27
    # Requests go to one real sandbox (not to ids that do not exist), deleted last.
    operations.sort(key=lambda op: (op.method, op.path) == ("delete", "/sandboxes/{sandbox_id}"))
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            if "sandbox_id" in (case.path_parameters or {}):
                case.path_parameters["sandbox_id"] = sandbox_id
            # pip's arguments are free strings in the document; which ones pip accepts no
            # schema can say, so a 400 for them is right, not a rejected valid request.
            # Likewise a command's cwd or program: valid strings, but most name nothing the
            # sandbox has (400 bad_cwd / program_not_found). And network rules: free strings
            # (400 bad_network_policy), and this server's kernels have the network off, so a
            # policy that turns it on is refused (403 network_not_permitted).
            networked = isinstance(case.body, dict) and "network" in case.body
            excluded = [positive_data_acceptance] if networked or case.operation.path.endswith(
                ("/packages", "/commands", "/network")) else []
            case.call_and_validate(excluded_checks=excluded)

        check()


def test_document_lists_every_route(service_server: Server) -> None:
    with httpx.Client(base_url=service_server.url + API, timeout=60,
                      headers={"Authorization": f"token {service_server.token}"}) as http:
        paths = set(http.get("openapi.json").json()["paths"])
    assert paths == {"/sandboxes", "/sandboxes/{sandbox_id}", "/sandboxes/{sandbox_id}/exec",
                     "/sandboxes/{sandbox_id}/interrupt", "/sandboxes/{sandbox_id}/fork",
                     "/sandboxes/{sandbox_id}/keep_alive",
                     "/sandboxes/{sandbox_id}/snapshots", "/sandboxes/{sandbox_id}/previews",
                     "/sandboxes/{sandbox_id}/packages", "/sandboxes/{sandbox_id}/files/{path}",
                     "/sandboxes/{sandbox_id}/commands", "/sandboxes/{sandbox_id}/commands/{pid}",
                     "/sandboxes/{sandbox_id}/commands/{pid}/logs",
                     "/sandboxes/{sandbox_id}/commands/{pid}/stdin",
                     "/sandboxes/{sandbox_id}/network",
                     "/pool", "/templates", "/templates/{name}"}
