"""A model held in this process (transformers, with or without a LoRA adapter) as an LLM backend.

The refresh gate scores the live model and each candidate before either is served: wrapping them as a
backend lets the gate ask its questions through the same answer path (kgflow.answer.service) as the
gateway. Greedy decoding; stop sequences cut the text the way a server does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from kgflow.llm.base import Generation, GenParams, LLMBackend, StreamPiece
from kgflow.llm.prompts import Prompt

GEMMA_TURN = "<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n"  # llama.cpp's "gemma" format


def prompt_text(prompt: Prompt, tokenizer=None) -> str:
    """The text a model reads: a completion prompt as it is, chat messages through the chat template."""
    if prompt.kind == "base":
        return prompt.text
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True)
    return "".join(GEMMA_TURN.format(prompt=m["content"]) for m in prompt.messages if m["role"] == "user")


def cut_at_stops(text: str, stops: list[str]) -> tuple[str, bool]:
    ends = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(ends)], True) if ends else (text, False)


class TransformersBackend(LLMBackend):
    name = "transformers"
    engine = "transformers (in process)"

    def __init__(self, model, tokenizer, model_id: str = "in-process") -> None:
        self.model, self.tokenizer, self._id = model, tokenizer, model_id

    def model_id(self) -> str:
        return self._id

    async def generate(self, prompt: Prompt, params: GenParams) -> Generation:
        import torch

        p = params.with_stops(prompt.stop)
        ids = self.tokenizer(prompt_text(prompt, self.tokenizer), return_tensors="pt").to(self.model.device)
        self.model.eval()
        with torch.no_grad():
            out = self.model.generate(**ids, max_new_tokens=p.max_new_tokens, do_sample=False)
        new = out[0][ids["input_ids"].shape[1]:]
        text, stopped = cut_at_stops(self.tokenizer.decode(new, skip_special_tokens=True), p.stop)
        finish = "stop_sequence" if stopped else "length" if len(new) >= p.max_new_tokens else "eos_token"
        return Generation(text, len(new), finish, int(ids["input_ids"].shape[1]))

    async def stream(self, prompt: Prompt, params: GenParams) -> AsyncIterator[StreamPiece]:
        gen = await self.generate(prompt, params)
        yield StreamPiece(gen.text, gen.finish_reason, gen.generated_tokens)

    async def health(self) -> bool:
        return True
