"""Prometheus metrics (kgflow_*) on a registry per app instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("kgflow_requests", "Requests by endpoint and status", ["endpoint", "status"],
                                registry=self.registry)
        self.latency = Histogram("kgflow_request_latency_seconds", "End-to-end latency", ["endpoint"],
                                 registry=self.registry,
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.retrieval = Histogram("kgflow_retrieval_latency_seconds", "Retrieval latency", ["mode"],
                                   registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
        self.tokens = Counter("kgflow_generated_tokens", "Generated tokens", registry=self.registry)
        self.backend_up = Gauge("kgflow_backend_up", "1 when the generation backend answers", registry=self.registry)
        self.in_flight = Gauge("kgflow_in_flight_requests", "Generation requests being answered (this worker)",
                               registry=self.registry)
        self.index_vectors = Gauge("kgflow_index_vectors", "Vectors in the published index", registry=self.registry)
