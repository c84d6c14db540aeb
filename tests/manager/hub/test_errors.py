"""The one mapping of Hub failures: the Hub API calls (huggingface_hub's exceptions) and the
byte transfers (a status and headers) read a status the same way."""

from __future__ import annotations

import httpx2
import pytest
from huggingface_hub.utils import hf_raise_for_status

from manager.errors import (
    HubAccessDeniedError,
    HubModelNotFoundError,
    HubResponseError,
    HubUnavailableError,
    ManagerError,
)
from manager.hub.errors import (
    DEFAULT_RETRY_AFTER_S,
    HubNotFoundUnspecified,
    HubRevisionNotFound,
    hub_error,
    status_error,
)

ENDPOINT = "http://hub.test"


def api_failure(status: int, headers: dict[str, str] | None = None) -> ManagerError:
    """The error a Hub API call maps an answer to (through ``hf_raise_for_status``)."""
    request = httpx2.Request("GET", f"{ENDPOINT}/api/models/org/name/revision/main")
    response = httpx2.Response(status, headers=headers or {}, request=request)
    with pytest.raises(Exception) as caught:
        hf_raise_for_status(response)
    return hub_error(caught.value, endpoint=ENDPOINT, model_id="org/name", revision="main")


def transfer_failure(status: int, headers: dict[str, str] | None = None) -> ManagerError:
    return status_error(
        status, headers or {}, endpoint=ENDPOINT, model_id="org/name", path="model.safetensors"
    )


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_access_denied_on_every_path(status: int) -> None:
    """Reproduction: a 401 (no ``X-Error-Code``) answered to the download planner was a 502
    ``BAD_GATEWAY``, while the Hub details route and the byte engine called it access denied."""
    for error in (api_failure(status), transfer_failure(status)):
        assert isinstance(error, HubAccessDeniedError), error
        assert error.status == 403
        assert any("HF_TOKEN" in step for step in error.resolution_steps)


def test_gated_is_access_denied_with_the_licence_step() -> None:
    for error in (
        api_failure(401, {"X-Error-Code": "GatedRepo"}),
        transfer_failure(403, {"X-Error-Code": "GatedRepo"}),
    ):
        assert isinstance(error, HubAccessDeniedError)
        assert error.details["gated"] is True
        assert any("licence" in step for step in error.resolution_steps)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_busy_or_failing_hub_is_unavailable_with_one_default_wait(status: int) -> None:
    error = api_failure(status)
    assert isinstance(error, HubUnavailableError)
    assert error.headers["Retry-After"] == str(DEFAULT_RETRY_AFTER_S)
    assert error.retry_after_s is None


@pytest.mark.parametrize(
    ("given", "header"), [("7", "7"), ("0.2", "1"), ("nan", "5"), ("-3", "5"), ("soon", "5")]
)
def test_the_hubs_retry_after_is_read_once(given: str, header: str) -> None:
    error = api_failure(429, {"Retry-After": given})
    assert isinstance(error, HubUnavailableError)
    assert error.headers["Retry-After"] == header


def test_not_found_kinds() -> None:
    assert type(api_failure(404, {"X-Error-Code": "RepoNotFound"})) is HubModelNotFoundError
    assert isinstance(api_failure(404, {"X-Error-Code": "RevisionNotFound"}), HubRevisionNotFound)
    assert isinstance(api_failure(404), HubNotFoundUnspecified)
    missing = transfer_failure(404)
    assert isinstance(missing, HubModelNotFoundError)
    assert "'model.safetensors' of 'org/name'" in missing.message
    assert missing.details["path"] == "model.safetensors"


def test_other_statuses_are_bad_answers() -> None:
    assert isinstance(api_failure(400), HubResponseError)
    assert isinstance(transfer_failure(418), HubResponseError)


def test_transport_failures_are_unavailable() -> None:
    refused = hub_error(httpx2.ConnectError("refused"), endpoint=ENDPOINT)
    assert isinstance(refused, HubUnavailableError)
    assert "could not be reached" in refused.message
    slow = hub_error(httpx2.ReadTimeout("slow"), endpoint=ENDPOINT)
    assert isinstance(slow, HubUnavailableError)
    assert slow.headers["Retry-After"] == str(DEFAULT_RETRY_AFTER_S)
