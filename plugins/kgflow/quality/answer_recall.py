"""Answer-recall: the share of a gold answer's content words that the retrieved context contains.

A retrieval measure that needs no LLM and no judge: if the words of the answer are not in what was
retrieved, no generator can ground them. Content words are lower-cased alphanumeric tokens that are
not English stop words; plural/singular and other inflections are folded by a light suffix rule, so
"tumors" in the answer counts as present when the context says "tumor".
"""

from __future__ import annotations

from collections.abc import Iterable

from kgflow.nlp.terms import terms


def content_words(text: str) -> set[str]:
    return set(terms(text))


def answer_recall(answer: str, context: str) -> float:
    """1.0 when every content word of the answer is in the context; 0.0 when none is (or none exists)."""
    want = content_words(answer)
    if not want:
        return 0.0
    return len(want & content_words(context)) / len(want)


def context_within(texts: Iterable[str], budget_chars: int) -> str:
    """The retrieved texts in rank order, cut at exactly `budget_chars` characters (the equal budget)."""
    out, used = [], 0
    for t in texts:
        if used >= budget_chars:
            break
        piece = t[: budget_chars - used]
        out.append(piece)
        used += len(piece) + 1
    return "\n".join(out)
