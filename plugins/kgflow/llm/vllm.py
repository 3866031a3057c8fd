"""vLLM (or SGLang) serving the model on GPU nodes: the maintained engine beside TGI, which has been in
maintenance mode since December 2025. Both speak the OpenAI-compatible API; requests name the served
model (`--served-model-name`, or a LoRA adapter's name)."""

from __future__ import annotations

from kgflow.llm.openai_compat import OpenAICompatibleBackend


class VllmBackend(OpenAICompatibleBackend):
    name = "vllm"
    engine = "vLLM server"
    default_model = "kgflow"  # the compose service's --served-model-name
    names_model = True
    repetition_key = "repetition_penalty"
