"""Prometheus metrics (kgflow_*) on a registry per app instance.

With several uvicorn workers each process counts for itself, and a scrape reaches one of them at random.
When PROMETHEUS_MULTIPROC_DIR is set (`kgflow serve` sets it for N > 1 workers; compose sets it), every
worker writes its values to files there and /metrics reports them summed over all workers
(prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("kgflow_requests", "Requests by endpoint and status", ["endpoint", "status"],
                                registry=self.registry)
        self.rejected = Counter("kgflow_rejected_requests", "Requests refused before generation: rate_limited "
                                "(the caller's rate) or overloaded (this worker's concurrency limit)", ["reason"],
                                registry=self.registry)
        self.latency = Histogram("kgflow_request_latency_seconds", "End-to-end latency", ["endpoint"],
                                 registry=self.registry,
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.retrieval = Histogram("kgflow_retrieval_latency_seconds", "Retrieval latency", ["mode"],
                                   registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
        self.tokens = Counter("kgflow_generated_tokens", "Generated tokens", registry=self.registry)
        self.backend_up = Gauge("kgflow_backend_up", "1 when the generation engine answers: primary, or the "
                                "fallback (KGFLOW_LLM_FALLBACK_URL)", ["engine"], registry=self.registry,
                                multiprocess_mode="max")
        self.answers = Counter("kgflow_answers", "Answers by the engine that generated them and what grounding did "
                               "with them: kept, rewritten (to the graph's answer) or refused", ["engine", "grounding"],
                               registry=self.registry)
        self.in_flight = Gauge("kgflow_in_flight_requests", "Generation requests being answered",
                               registry=self.registry, multiprocess_mode="livesum")
        self.index_vectors = Gauge("kgflow_index_vectors", "Vectors in the published index", registry=self.registry,
                                   multiprocess_mode="max")
        for reason in ("rate_limited", "overloaded"):
            self.rejected.labels(reason)  # present at 0 from the start: rate() needs a series before the first one
        self.backend_up.labels("primary")  # exported from the start, as the unlabelled gauge was
        for action in ("kept", "rewritten", "refused"):
            self.answers.labels("primary", action)

    def exposition_registry(self) -> CollectorRegistry:
        """What /metrics reports: this process's registry, or every worker's values in multiprocess mode."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
