"""Bad input to the inference server: wrong media types, broken JSON, over-long ids, paths
that try to climb out of the model roots, and pickle-based weights."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.procs import Service
from shared_schemas.model_ids import MAX_PART
from tests.hardening.conftest import MAX_TOKENS, MODEL, assert_envelope, pool_slots

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
COMPLETION = {"model": MODEL, "prompt": "hi", "max_tokens": 2}


def raw(
    service: Service, method: str, path: str, body: bytes | None = None, **headers: str
) -> httpx.Response:
    """Send ``path`` byte for byte (no client-side normalisation of ``..`` or ``%2e``)."""
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())
    finally:
        conn.close()


# ---- media types and JSON --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", CHAT),
        ("/v1/completions", COMPLETION),
        (f"/admin/models/{MODEL}/load", {}),
    ],
)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_wrong_content_type_is_415(
    inference: Service, path: str, body: dict[str, Any], content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = raw(inference, "POST", path, json.dumps(body).encode(), **headers)
    error = assert_envelope(r, 415, "unsupported_media_type")
    assert error["src"] == "inference_server"


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.api+json"]
)
def test_json_media_types_are_accepted(inference: Service, content_type: str) -> None:
    r = raw(
        inference,
        "POST",
        "/v1/chat/completions",
        json.dumps(CHAT).encode(),
        **{"Content-Type": content_type},
    )
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "chat.completion"


def test_bodyless_post_needs_no_content_type(inference: Service) -> None:
    r = raw(inference, "POST", f"/admin/models/{MODEL}/load")
    assert r.status_code == 200, r.text
    assert r.json()["slot"]["id"] == MODEL


@pytest.mark.parametrize(
    "path", ["/v1/chat/completions", "/v1/completions", f"/admin/models/{MODEL}/load"]
)
@pytest.mark.parametrize("body", [b"{", b'{"model": ', b"\xff\xfe", b'{"a": 1}}'])
def test_malformed_json_is_400(inference: Service, path: str, body: bytes) -> None:
    r = raw(inference, "POST", path, body, **{"Content-Type": "application/json"})
    assert_envelope(r, 400, "invalid_json")


# ---- model ids -------------------------------------------------------------------------------

LONG_ID = "org/" + "n" * (MAX_PART + 1)  # a name one character over the grammar's limit


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/chat/completions", CHAT), ("/v1/completions", COMPLETION)]
)
def test_over_long_model_id_in_body_is_400(
    inference: Service, path: str, body: dict[str, Any]
) -> None:
    r = httpx.post(inference.url + path, json={**body, "model": LONG_ID}, timeout=30)
    error = assert_envelope(r, 400)
    assert error["param"] == "model"


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("POST", "/admin/models/{}/load"),
        ("POST", "/admin/models/{}/unload"),
        ("GET", "/v1/models/{}"),
    ],
)
def test_over_long_model_id_in_path_is_400(inference: Service, method: str, template: str) -> None:
    r = raw(inference, method, template.format(LONG_ID))
    assert_envelope(r, 400, "invalid_model_id")
    # One character less is a well-formed id that names nothing.
    r = raw(inference, method, template.format(LONG_ID[:-1]))
    assert r.status_code in (200, 404), r.text
    if method == "POST" and template.endswith("/load"):
        assert_envelope(r, 404, "model_not_found")


# ---- paths out of the roots ----------------------------------------------------------------


@pytest.fixture
def escapes(models_dir: Path, outside_dir: Path) -> list[str]:
    """Ids that would name the complete model in ``outside_dir`` if they were followed."""
    up = os.path.relpath(outside_dir / "tiny", models_dir)  # ../outside0/tiny
    assert up.startswith("..")
    absolute = str(outside_dir / "tiny")
    return [
        f"local/{up}",
        up,
        f"local/{up.replace('..', '%2e%2e')}",
        f"local/{up.replace('..', '%2E%2E').replace('/', '%2F')}",
        absolute,
        absolute.replace("/", "%2F"),
        f"local/{absolute}",
        f"local/%2e%2e%2f{up}",
    ]


def _outside_untouched(outside_dir: Path) -> None:
    assert (outside_dir / "secret.txt").read_text() == "not for the inference server\n"
    assert (outside_dir / "tiny" / "model.safetensors").stat().st_size > 0


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("POST", "/admin/models/{}/load"),
        ("POST", "/admin/models/{}/unload"),
        ("GET", "/v1/models/{}"),
    ],
)
def test_traversal_in_path_is_400(
    inference: Service, escapes: list[str], outside_dir: Path, method: str, template: str
) -> None:
    for model_id in escapes:
        r = raw(inference, method, template.format(model_id))
        assert_envelope(r, 400, "invalid_model_id")
    assert not any("outside" in slot or ".." in slot for slot in pool_slots(inference))
    _outside_untouched(outside_dir)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_traversal_in_model_field_is_400(
    inference: Service, escapes: list[str], outside_dir: Path, path: str
) -> None:
    body = CHAT if "chat" in path else COMPLETION
    for model_id in escapes:
        r = httpx.post(inference.url + path, json={**body, "model": model_id}, timeout=30)
        assert assert_envelope(r, 400)["param"] == "model"
    assert not any("outside" in slot or ".." in slot for slot in pool_slots(inference))
    _outside_untouched(outside_dir)


def test_symlink_out_of_the_root_is_400(inference: Service, outside_dir: Path) -> None:
    r = httpx.post(f"{inference.url}/admin/models/local/escape/load", timeout=30)
    assert_envelope(r, 400, "path_outside_roots")
    r = httpx.post(
        inference.url + "/v1/chat/completions", json={**CHAT, "model": "local/escape"}, timeout=30
    )
    assert_envelope(r, 400, "path_outside_roots")
    listed = {m["id"] for m in httpx.get(inference.url + "/v1/models", timeout=30).json()["data"]}
    assert "local/escape" not in listed and MODEL in listed
    assert "local/escape" not in pool_slots(inference)
    _outside_untouched(outside_dir)


# ---- pickle weights ------------------------------------------------------------------------


def test_pickle_only_model_is_refused(inference: Service) -> None:
    r = httpx.post(f"{inference.url}/admin/models/local/pickled/load", timeout=30)
    error = assert_envelope(r, 422, "unsafe_format")
    assert "pickle" in error["message"]
    assert set(error["details"]["unsafe_files"]) == {"optimizer.PT", "pytorch_model.bin"}
    r = httpx.post(
        inference.url + "/v1/chat/completions", json={**CHAT, "model": "local/pickled"}, timeout=30
    )
    assert_envelope(r, 422, "unsafe_format")
    assert "local/pickled" not in pool_slots(inference)


# ---- found by fuzzing ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 0, 2**63, 2**64 - 1, 2**64, -(2**70), 10**30])
def test_any_integer_seed_is_accepted(inference: Service, seed: int) -> None:
    body = {**CHAT, "seed": seed, "temperature": 1.0}
    r = httpx.post(inference.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text


def test_generation_without_max_tokens_stops_at_the_cap(inference: Service) -> None:
    # Greedy: with sampling the random model can draw its end token first (0 tokens).
    body = {**{k: v for k, v in CHAT.items() if k != "max_tokens"}, "temperature": 0.0}
    r = httpx.post(inference.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert 0 < r.json()["usage"]["completion_tokens"] <= MAX_TOKENS


@pytest.mark.parametrize(
    ("path", "field", "value", "param"),
    [
        ("/v1/chat/completions", "stop", [""], "stop"),
        ("/v1/chat/completions", "stop", "", "stop"),
        ("/v1/chat/completions", "stop", ["a", "b", "c", "d", "e"], "stop"),
        ("/v1/completions", "prompt", [], "prompt"),
        ("/v1/completions", "prompt", ["a", "b"], "prompt"),
    ],
)
def test_limits_the_schema_states_are_enforced(
    inference: Service, path: str, field: str, value: object, param: str
) -> None:
    body = {**(CHAT if "chat" in path else COMPLETION), field: value}
    r = httpx.post(inference.url + path, json=body, timeout=30)
    assert assert_envelope(r, 400, "invalid_request")["param"].startswith(param)
    schema = httpx.get(inference.url + "/openapi.json", timeout=30).json()["components"]["schemas"]
    declared = json.dumps(
        schema["ChatCompletionRequest" if "chat" in path else "CompletionRequest"]["properties"][
            field
        ]
    )
    assert "minLength" in declared or "minItems" in declared or "maxItems" in declared
