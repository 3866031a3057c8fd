"""llama.cpp's server (llama-cpp-python[server]): the embedded default's generation engine."""

from __future__ import annotations

from kgflow.llm.openai_compat import OpenAICompatibleBackend


class LlamaCppBackend(OpenAICompatibleBackend):
    name = "llamacpp"
    engine = "llama.cpp server"
    default_model = "gemma3-270m-q4_k_m"
    names_model = False  # one model per server process; the field would only have to match its alias
    repetition_key = "repeat_penalty"
    device_type = "cpu"
    dtype = "q4_k_m"
