"""Running schemathesis over a live service from a test, and what it checks besides its own.

The run goes through schemathesis' engine, the one behind ``schemathesis run`` (its pytest
loader ``from_fixture`` does not work with pytest 9.2, and the services only exist once their
fixtures have started them): examples, coverage (boundaries, missing and wrong-typed fields,
wrong media types, unexpected methods) and a bounded number of generated cases, positive and
negative, for every selected operation.
Its built-in checks run (no 5xx, documented status codes and content types, responses valid
against the declared schemas, invalid data refused, ...) plus two of ours:

- ``error_in_envelope``: every error (status >= 400) is the one envelope, ``src`` set (``hub``
  for what the Hugging Face Hub refused), or Anthropic's shape on the Messages routes;
- ``valid_requests_accepted``: a request schemathesis built to be valid is accepted, or refused
  only for a reason no schema can state (more tokens than this deployment allows, more than
  the model's context holds). It replaces schemathesis' ``positive_data_acceptance``, which
  would count those refusals as schema bugs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import schemathesis
from schemathesis.engine import events, from_schema

from service_kit.anthropic_errors import is_messages_path
from shared_schemas.anthropic import ErrorResponse as AnthropicError
from shared_schemas.errors import ErrorEnvelope

SEED = 20261101
# Refusals of well-formed requests that depend on the deployment, the model or the disk, not
# the schema: limits of the server and the model, patterns that match no file of a Hub repo,
# an import path that holds no model (or one in a format that is refused), JSON schemas the
# grammar engine cannot compile, tools for a template without them, fields that exclude
# each other.
SEMANTIC_400_CODES = frozenset(
    {
        "max_tokens_exceeded",
        "context_length_exceeded",
        "invalid_schema",
        "tools_not_supported",
        "images_not_supported",
        "conflicting_parameters",
        "invalid_message",
        "chat_template_error",
        "no_matching_files",
        "path_not_found",
        "not_a_model",
        "unsupported_file",
        "invalid_gguf",
        "unsafe_format",
        "already_in_library",
        "unreadable_path",
        # what the model is and what the content holds, not the shape of the request
        "invalid_image",
        "invalid_image_url",
        "image_too_large",
        "remote_images_disabled",
        "image_fetch_failed",
        "not_an_embedding_model",
        "not_a_chat_model",
        "dimensions_not_supported",
        "invalid_dimensions",
        "invalid_token_id",
    }
)
# Parameters no schema can check: an opaque cursor the server did not issue, token ids past
# the model's vocabulary, a stored response asked of the inference server (the manager keeps
# them).
SEMANTIC_400_PARAMS = frozenset({"cursor", "logit_bias", "previous_response_id"})
# Answers a well-formed request may get besides 2xx: an id that names nothing, a conflict, busy.
ACCEPTED_ERROR_STATUSES = frozenset({404, 409, 429})


@schemathesis.check
def error_in_envelope(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), (
        f"a {response.status_code} that is not JSON ({content_type}): {response.text[:200]!r}"
    )
    if is_messages_path(case.path):  # Anthropic's API answers errors in its own shape
        anthropic = AnthropicError.model_validate_json(response.content)
        assert anthropic.error.message and anthropic.error.type, anthropic
        return True
    envelope = ErrorEnvelope.model_validate_json(response.content)
    assert envelope.error.src in {"manager", "inference_server", "hub"}, envelope
    assert envelope.error.message, envelope
    return True


def _error_code_and_param(case: schemathesis.Case, content: bytes) -> tuple[str | None, str | None]:
    if is_messages_path(case.path):
        details = AnthropicError.model_validate_json(content).error.details or {}
        return details.get("error_code"), None
    error = ErrorEnvelope.model_validate_json(content).error
    return error.code, error.param


@schemathesis.check
def valid_requests_accepted(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status in ACCEPTED_ERROR_STATUSES:
        return True
    if status == 400:
        code, param = _error_code_and_param(case, response.content)
        if code in SEMANTIC_400_CODES or param in SEMANTIC_400_PARAMS:
            return True
    raise AssertionError(
        f"a request valid by the schema was refused with {status}: {response.text[:300]}"
    )


def config(
    max_examples: int,
    base_url: str | None = None,
    operations: list[dict[str, object]] | None = None,
    suppress_health_checks: tuple[str, ...] = (),
) -> schemathesis.Config:
    """A deterministic, bounded run: fixed seed, no example database, no stateful phase.

    ``operations``: per-operation settings in schemathesis' configuration format, e.g.
    ``{"include-path-regex": "/events$", "max-stream-events": 1}`` for event streams that
    never end (schemathesis reads a stream until it ends or sends that many events).
    ``suppress_health_checks``: Hypothesis health checks to skip, e.g. ``filter_too_much``
    where schemathesis throws away many generated path parameters that hold a ``/``.
    """
    project: dict[str, object] = {
        "seed": SEED,
        "generation": {"max-examples": max_examples, "database": "none", "deterministic": True},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"positive_data_acceptance": {"enabled": False}},
        "request-timeout": 30,
    }
    if operations:
        project["operations"] = operations
    if suppress_health_checks:
        project["suppress-health-check"] = list(suppress_health_checks)
    if base_url is not None:
        project["base-url"] = base_url
    return schemathesis.Config.from_dict(project)


def path_prefixes_regex(prefixes: Iterable[str]) -> str:
    return "^(" + "|".join(re.escape(p) for p in prefixes) + ")"


@dataclass
class Report:
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{len(self.failures)} failure(s), {len(self.errors)} error(s)"]
        for (label, check, title), detail in sorted(self.failures.items()):
            lines.append(f"- {label} [{check}] {title}\n{detail}")
        lines += [f"- error: {e}" for e in self.errors]
        return "\n".join(lines)


def run(schema: schemathesis.BaseSchema) -> Report:
    """Run every phase over ``schema`` and collect what failed (one entry per kind of failure)."""
    report = Report()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            report.operations.add(event.recorder.label)
            report.cases += len(event.recorder.cases)
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    info = node.failure_info
                    if info is None:
                        continue
                    key = (event.recorder.label, node.name, info.failure.title)
                    report.failures.setdefault(key, f"{info.failure.message}\n{info.code_sample}")
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            for failure in event.failures:
                key = (failure.operation or "", "after_run", failure.title)
                report.failures.setdefault(key, failure.message)
    return report
