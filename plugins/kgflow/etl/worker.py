"""Limits a Spark Python worker puts on itself before it touches documents."""

from __future__ import annotations

import resource


def bound_memory(limit_mb: int) -> None:
    """Cap this worker's address space: a document that would need more (a bomb the sniff checks
    missed) fails with MemoryError inside its own parse, is quarantined, and the worker lives on.
    Only the soft limit is lowered, and never raised above what the worker already has."""
    if limit_mb <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = limit_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft > want:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
