"""PII masking for streamed output: hold back a short tail so a PII string split across tokens is
masked before any of it leaves the gateway."""

from __future__ import annotations

from kgflow.nlp.pii import mask_pii

HOLDBACK = 48  # longer than any PII pattern we mask (IBANs up to 34 + spaces)


class StreamMasker:
    def __init__(self) -> None:
        self._raw = ""
        self._sent = 0

    def feed(self, piece: str) -> str:
        self._raw += piece
        masked, _ = mask_pii(self._raw)
        safe = len(masked) - HOLDBACK
        if safe <= self._sent:
            return ""
        out = masked[self._sent:safe]
        self._sent = safe
        return out

    def finish(self) -> str:
        masked, _ = mask_pii(self._raw)
        out = masked[self._sent:]
        self._sent = len(masked)
        return out

    @property
    def text(self) -> str:
        return mask_pii(self._raw)[0]
