"""Whether a model is worth downloading or listing for serving, from its compatibility verdict.

Pure policies over the one verdict (``compatibility.assess``); nothing here judges a model a
second way.

- A download of a model whose verdict is not ``runs`` is refused (409 ``model_not_servable``,
  the verdict and its reasons in ``details``) unless the request says ``force``; a forced one
  carries the same body as the job's warning.
- The OpenAI catalog lists a model on disk only when the inference server can load it: its
  verdict is compatible (not ``not-loadable``, not ``too-big``), or the pool has it anyway.
- The files a download request would fetch narrow the repository's file list before it is
  judged: ``format: "gguf"`` keeps the GGUF files, ``"mlx"`` drops them, and explicit
  ``allow_patterns`` keep only what they match, so a GGUF pick from a repository that also
  holds safetensors is judged as GGUF.
"""

from __future__ import annotations

from collections.abc import Iterable

from manager.downloads.plan import matches
from manager.downloads.schemas import DownloadFormat
from manager.errors import ConflictError
from manager.library.schemas import CompatibilityReport, CompatibilitySummary
from shared_schemas.errors import ErrorBody
from shared_schemas.openai import ModelState

SERVABLE_LABEL = "runs"


def download_refusal(report: CompatibilityReport) -> ConflictError | None:
    """The 409 for downloading a model whose verdict is not ``runs``; None when it runs."""
    if report.label == SERVABLE_LABEL:
        return None
    serious = [r.message for r in report.reasons if r.severity != "info"]
    why = "; ".join(serious) or f"verdict {report.label!r} (score {report.score})"
    return ConflictError(
        f"'{report.model_id}' would not run on this inference server ({report.label}): {why}",
        code="model_not_servable",
        param="model_id",
        details={
            "model_id": report.model_id,
            "verdict": report.label,
            "compatible": report.compatible,
            "score": report.score,
            "reasons": [r.model_dump() for r in report.reasons],
            "requirements": report.requirements.model_dump(),
        },
        resolution_steps=[
            *report.recommendations,
            f"See the full verdict: GET /api/models/compatibility/{report.model_id}",
            'To download it anyway, send "force": true; the job records this warning.',
        ],
    )


def check_download(report: CompatibilityReport, *, force: bool) -> ErrorBody | None:
    """None when the model runs; its warning when ``force``; raises the 409 otherwise."""
    refusal = download_refusal(report)
    if refusal is None:
        return None
    if not force:
        raise refusal
    return ErrorBody.model_validate(refusal.body()["error"])


def requested_paths(
    paths: Iterable[str], patterns: Iterable[str], fmt: DownloadFormat | None
) -> list[str]:
    """The repository paths a download request can fetch, by its format and patterns."""
    chosen = list(paths)
    if fmt == "gguf":
        chosen = [p for p in chosen if p.lower().endswith(".gguf")]
    elif fmt == "mlx":
        chosen = [p for p in chosen if not p.lower().endswith(".gguf")]
    wanted = list(patterns)
    if wanted:
        chosen = [p for p in chosen if any(matches(p, pattern) for pattern in wanted)]
    return chosen


def listed_for_serving(verdict: CompatibilitySummary, state: ModelState) -> bool:
    """Whether ``/v1/models`` lists a model on disk: the server can load it, or has it."""
    return verdict.compatible or state in ("loaded", "loading")
