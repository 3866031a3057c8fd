"""Why a document was quarantined: a closed set of reasons a user can filter on (schemas/quarantine_reasons.json)."""

from __future__ import annotations

from kgflow.errors import KgflowError
from kgflow.schemas import load_json

REASONS: dict[str, str] = load_json("quarantine_reasons.json")


class QuarantineError(KgflowError):
    """A document that cannot be ingested; it stays where it is and is recorded with its reason."""
    status, error_type = 422, "quarantined"

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown quarantine reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
