"""schemathesis against the inference server's OpenAPI, over a live server on loopback."""

from __future__ import annotations

import httpx
import pytest
import schemathesis

from modelyard_dev.procs import Service
from tests.hardening.fuzzing import config, run

MAX_EXAMPLES = 15


@pytest.mark.slow
def test_inference_api(inference: Service) -> None:
    schema = schemathesis.openapi.from_url(
        f"{inference.url}/openapi.json", config=config(MAX_EXAMPLES)
    )
    report = run(schema)
    if report.failures or report.errors:
        pytest.fail(report.summary(), pytrace=False)
    # Every documented operation was exercised, with real requests, and the server is still up.
    documented = httpx.get(f"{inference.url}/openapi.json").json()["paths"]
    assert report.operations == {f"{m.upper()} {p}" for p, ops in documented.items() for m in ops}
    assert report.cases >= len(report.operations) * MAX_EXAMPLES
    assert httpx.get(f"{inference.url}/health").status_code == 200
