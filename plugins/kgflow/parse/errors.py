"""Why a document was quarantined: a small closed set of reasons a user can filter on."""

from __future__ import annotations

REASONS = ("corrupt", "encrypted", "empty", "too_large", "mislabeled", "unsupported")


class QuarantineError(Exception):
    """A document that cannot be ingested; it stays where it is and is recorded with its reason."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown quarantine reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
