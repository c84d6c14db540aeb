"""Every query parameter of every manager route, sent an integer past 64 bits: refused in the
envelope (400 for an integer parameter), never a 500. The routes are read from the OpenAPI,
so a route added later is covered without editing this file."""

from __future__ import annotations

import uuid
from typing import Any

from tests.hardening.conftest import assert_envelope
from tests.manager.conftest import AppClientFactory, app_client, make_settings

__all__ = ["app_client", "make_settings"]  # fixtures shared with tests/manager

HUGE = "634872852029470037759754240"  # about 2**89
PATH_VALUES = {
    "model_id": "org/name",
    "job_id": str(uuid.uuid4()),
    "response_id": "resp_0123456789abcdef",
}
INT64_MAX = 2**63 - 1


def number_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The integer schemas inside a parameter's schema (``int | None`` is an ``anyOf``)."""
    found = [schema] if schema.get("type") == "integer" else []
    for key in ("anyOf", "oneOf", "allOf"):
        for inner in schema.get(key, []):
            found += number_schemas(inner)
    return found


def query_parameters(spec: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(method, url path, parameter name, schema)`` of every query parameter."""
    out = []
    for template, operations in spec["paths"].items():
        path = template.format(**PATH_VALUES)
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    out.append((method.upper(), path, parameter["name"], parameter["schema"]))
    return out


async def test_an_integer_past_64_bits_in_any_query_parameter_is_refused(
    app_client: AppClientFactory,
) -> None:
    """Reproduction: ``GET /api/downloads?offset=634872852029470037759754240`` answered 500
    (SQLite cannot bind the number). Every integer parameter now has a bound in its schema,
    and whatever the parameter, such a value never gets a 500."""
    async with app_client() as (_app, client):
        spec = (await client.get("/openapi.json")).json()
        parameters = query_parameters(spec)
        integers = [p for p in parameters if number_schemas(p[3])]
        assert ("GET", "/api/downloads", "offset") in {p[:3] for p in integers}
        for method, path, name, schema in parameters:
            for inner in number_schemas(schema):
                assert inner.get("maximum", INT64_MAX + 1) <= INT64_MAX, (path, name)
                assert inner.get("minimum", -INT64_MAX - 2) >= -INT64_MAX - 1, (path, name)
            r = await client.request(method, path, params={name: HUGE})
            assert r.status_code != 500, (method, path, name, r.text)
            if r.status_code >= 400:
                assert set(r.json()["error"]) >= {"message", "type", "code", "src"}, r.text
            if (method, path, name, schema) in integers:
                error = assert_envelope(r, 400, "invalid_request")
                assert [name] in [e["loc"][1:] for e in error["details"]["errors"]], error
