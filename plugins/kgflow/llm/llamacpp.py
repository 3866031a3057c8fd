"""llama.cpp's server (llama-cpp-python[server]): the embedded default's generation engine."""

from __future__ import annotations

from kgflow.llm.openai_compat import OpenAICompatibleBackend
from kgflow.llm.prompts import Prompt


class LlamaCppBackend(OpenAICompatibleBackend):
    name = "llamacpp"
    engine = "llama.cpp server"
    default_model = "gemma3-270m-q4_k_m"
    names_model = False  # one model per server process; the field would only have to match its alias
    repetition_key = "repeat_penalty"
    device_type = "cpu"
    dtype = "q4_k_m"
    tokenize_path = "/extras/tokenize/count"

    def _tokenize_body(self, prompt: Prompt) -> dict:
        # no chat template on this route: a chat prompt is counted without its template's few marker tokens
        text = prompt.text if prompt.kind == "base" else "\n".join(m["content"] for m in prompt.messages)
        return {"input": text}
