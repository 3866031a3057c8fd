"""Reciprocal rank fusion and the prompt's token budget."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

RRF_K = 60


def reciprocal_rank_fusion(rankings: Iterable[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def approx_tokens(text: str) -> int:
    """~4 characters per token for English: close enough to budget a prompt, no tokenizer needed."""
    return max(1, len(text) // 4)


def within_budget(items: Sequence[tuple[str, str]], budget: int) -> list[str]:
    """Keep (id, text) items in order while their token estimate fits; always keep the first."""
    out, used = [], 0
    for item_id, text in items:
        cost = approx_tokens(text)
        if out and used + cost > budget:
            break
        out.append(item_id)
        used += cost
    return out
