"""Verdicts over several inference servers (pure): each server's own facts."""

from __future__ import annotations

from typing import Any

from manager.fleet.health import HostHealth
from manager.fleet.verdicts import assess_on_hosts
from shared_schemas.capabilities import InferenceCapabilities
from tests.manager.library.test_compatibility import LLAMA_8B, facts

GIB = 2**30
VL: dict[str, Any] = {**LLAMA_8B, "model_type": "qwen2_vl", "vision_config": {"depth": 2}}


def host(url: str, vision_model_types: list[str]) -> HostHealth:
    capabilities = InferenceCapabilities(
        version="0",
        mlx_version=None,
        mlx_lm_version=None,
        model_types=["llama", "qwen2_vl"],
        vision_model_types=vision_model_types,
        hf_cache_dir="/hub",
        models_dirs=["/models"],
        memory_budget_bytes=32 * GIB,
        max_models=4,
        cpu_blas=None,
        features=["chat"],
    )
    return HostHealth(
        url=url,
        up=True,
        answering=True,
        capabilities=capabilities,
        model_types=frozenset(capabilities.model_types),
        budget_bytes=32 * GIB,
    )


def codes(report: Any) -> set[str]:
    return {reason.code for reason in report.reasons}


def test_a_server_whose_mlx_vlm_loads_the_model_serves_its_images() -> None:
    """Each server says whether it serves a vision-language model's images; the verdict is
    the best server's, without the text-only warning when that server takes the images."""
    with_vlm = host("http://a", ["qwen2_vl"])
    without = host("http://b", [])
    best = assess_on_hosts(facts(VL), [without, with_vlm])
    assert "images_served" in codes(best) and "text_only" not in codes(best)
    only_text = assess_on_hosts(facts(VL), [without])
    assert "text_only" in codes(only_text) and "images_served" not in codes(only_text)
    assert best.score > only_text.score
