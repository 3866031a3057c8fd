"""Limits a Spark Python worker puts on itself before it touches documents."""

from __future__ import annotations

import resource


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def bound_memory(limit_mb: int) -> None:
    """Cap the address space this worker may add while parsing: a document that would need more (a bomb the
    sniff checks missed) fails with MemoryError inside its own parse, is quarantined, and the worker lives on.

    The parsers are loaded first and the cap is set above what they map: their libraries alone reserve
    gigabytes of address space (unstructured's PDF path imports torch; a CUDA build maps ~4.4 GB), which
    a document must not be charged for. Only the soft limit is lowered, never raised above the hard one."""
    if limit_mb <= 0:
        return
    from kgflow.parse.partition import preload

    preload()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = _address_space() + limit_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft > want:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
