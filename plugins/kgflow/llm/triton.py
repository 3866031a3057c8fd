"""Triton Inference Server through its OpenAI-compatible frontend (python/openai in the Triton repo),
serving the model with its vLLM backend. It differs from vLLM's own server where its request schema does:
the schema forbids fields OpenAI's API lacks (`top_k`, `repetition_penalty` get a 422), and readiness is
`/health/ready`. Runtime LoRA loading is not offered: a new adapter is a blue/green rollout."""

from __future__ import annotations

from kgflow.llm.openai_compat import OpenAICompatibleBackend


class TritonBackend(OpenAICompatibleBackend):
    name = "triton"
    engine = "Triton Inference Server (OpenAI-compatible frontend)"
    default_model = "kgflow"  # the model's folder name in Triton's model repository
    names_model = True
    repetition_key = None  # no repetition penalty in OpenAI's schema, which Triton enforces
    unsupported = ("top_k",)
    health_path = "/health/ready"
