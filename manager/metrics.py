"""Prometheus metrics of the manager, in a registry owned by the app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from service_kit.observability import RequestMetrics

PREFIX = "modelyard_manager"


class ManagerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = RequestMetrics(r, PREFIX)
        self.proxy_retries = Counter(
            f"{PREFIX}_proxy_connect_retries_total",
            "Connection attempts to the inference server that were retried.",
            registry=r,
        )
        self.proxy_upstream_errors = Counter(
            f"{PREFIX}_proxy_upstream_errors_total",
            "Proxied requests that failed at the inference server, by kind: unreachable, invalid "
            "(an answer that could not be read), dropped (mid-stream), client_gone.",
            ["kind"],
            registry=r,
        )
        self.download_bytes = Counter(
            f"{PREFIX}_download_bytes_total", "Bytes received by the download engine.", registry=r
        )
        self.downloads_active = Gauge(
            f"{PREFIX}_downloads_active", "Download jobs transferring now.", registry=r
        )
        self.downloads_queued = Gauge(
            f"{PREFIX}_downloads_queued", "Download jobs waiting for a slot.", registry=r
        )
        self.download_retries = Counter(
            f"{PREFIX}_download_retries_total",
            "File transfers retried after a transient error, by reason.",
            ["reason"],
            registry=r,
        )
        self.downloads_finished = Counter(
            f"{PREFIX}_downloads_finished_total",
            "Download jobs that ended, by final status.",
            ["status"],
            registry=r,
        )
        self.hub_requests = Counter(
            f"{PREFIX}_hub_requests_total",
            "Requests made to the Hugging Face Hub, by operation and outcome.",
            ["operation", "outcome"],
            registry=r,
        )
        self.hub_cache_hits = Counter(
            f"{PREFIX}_hub_cache_hits_total", "Hub answers served from the cache.", registry=r
        )
