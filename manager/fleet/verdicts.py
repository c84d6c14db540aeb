"""Will it run on one of several inference servers? A model runs on one server, so the
verdict is the best of the verdicts on each server that answers (or, when none answers, on
each with capabilities last known): ``runs`` when some server can load the model's type and
has the memory budget for it. A reason names the servers it runs on and why it does not run
on the others. Pure: ``compatibility.assess`` for each server's facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from manager.fleet.health import HostHealth
from manager.library.compatibility import (
    CompatibilityFacts,
    architecture_supported,
    assess,
    images_served,
)
from manager.library.schemas import CompatibilityReason, CompatibilityReport


def verdict_hosts(hosts: Sequence[HostHealth]) -> tuple[HostHealth, ...]:
    """The servers a verdict is made over: those that serve now, else those whose
    capabilities are known (last known: the verdicts say so)."""
    serving = tuple(h for h in hosts if h.serving)
    return serving or tuple(h for h in hosts if h.capabilities is not None)


def _on(facts: CompatibilityFacts, host: HostHealth) -> CompatibilityFacts:
    model_type = facts.characteristics.model_type
    return replace(
        facts,
        architecture_supported=(
            architecture_supported(model_type, host.model_types)
            if facts.weights != "gguf"
            else None
        ),
        budget_bytes=host.budget_bytes,
        model_types_stale=not host.serving,
        images_served=images_served(
            facts.characteristics,
            host.capabilities.vision_model_types if host.capabilities else None,
        ),
    )


def _why_not(report: CompatibilityReport) -> str:
    blockers = [r.message for r in report.reasons if r.severity == "blocker"]
    return blockers[0] if blockers else report.label


def assess_on_hosts(facts: CompatibilityFacts, hosts: Sequence[HostHealth]) -> CompatibilityReport:
    """The verdict over ``hosts`` (see the module docstring); ``assess(facts)`` without any."""
    if not hosts:
        return assess(facts)
    reports = [(host.url, assess(_on(facts, host))) for host in hosts]
    _, best = max(reports, key=lambda r: (r[1].compatible, r[1].score))
    fits = [url for url, report in reports if report.compatible]
    others = [f"{url}: {_why_not(report)}" for url, report in reports if not report.compatible]
    if fits:
        message = f"Runs on {', '.join(fits)}" + (f"; not on {'; '.join(others)}" if others else "")
        reason = CompatibilityReason(code="inference_hosts", severity="info", message=message)
    else:
        reason = CompatibilityReason(
            code="inference_hosts",
            severity="blocker",
            message="No inference server can run it: " + "; ".join(others),
        )
    return best.model_copy(update={"reasons": [reason, *best.reasons]})
