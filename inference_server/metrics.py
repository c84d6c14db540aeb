"""Prometheus metrics of the inference server, in a registry owned by the app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service_kit.observability import RequestMetrics

PREFIX = "modelyard_inference"


class InferenceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = RequestMetrics(r, PREFIX)
        self.tokens = Counter(
            f"{PREFIX}_tokens_generated_total", "Tokens generated.", ["model"], registry=r
        )
        self.ttft = Histogram(
            f"{PREFIX}_time_to_first_token_seconds",
            "From the request reaching generation to its first token.",
            ["model"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_queue_depth",
            "Requests admitted that have not produced their first token yet.",
            registry=r,
        )
        self.batch_size = Histogram(
            f"{PREFIX}_batch_size",
            "Sequences decoded together in one step.",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
        )
        self.loads = Counter(f"{PREFIX}_pool_loads_total", "Model loads.", ["model"], registry=r)
        self.load_failures = Counter(
            f"{PREFIX}_pool_load_failures_total", "Failed model loads.", ["model"], registry=r
        )
        self.evictions = Counter(
            f"{PREFIX}_pool_evictions_total", "Models evicted to make room.", ["model"], registry=r
        )
        self.unloads = Counter(
            f"{PREFIX}_pool_unloads_total", "Models unloaded for any reason.", ["model"], registry=r
        )
        self.load_seconds = Histogram(
            f"{PREFIX}_pool_load_seconds",
            "Time to load a model.",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.memory = Gauge(
            f"{PREFIX}_model_memory_bytes",
            "Measured memory of each loaded model.",
            ["model"],
            registry=r,
        )
        self.active = Gauge(
            f"{PREFIX}_active_requests", "Requests being served, by model.", ["model"], registry=r
        )
