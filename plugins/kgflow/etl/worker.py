"""Limits a Spark Python worker puts on itself before it touches documents."""

from __future__ import annotations

import resource

_MIN_HEADROOM = 256 * 1024 * 1024  # what a document may still use when the parsers alone fill the bound
# Pages of libraries already mapped but not yet touched become resident without new address space.
_UNTOUCHED_LIBRARY_PAGES = 256 * 1024 * 1024


def _status(field: str) -> int:
    """One ``/proc/self/status`` figure, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return 0


def bound_memory(limit_mb: int) -> None:
    """Keep this worker's resident memory under ``limit_mb`` while parsing: a document that would need more
    (a bomb the sniff checks missed) fails with MemoryError inside its own parse, is quarantined, and the
    worker lives on.

    The parsers are loaded first. Their libraries reserve gigabytes of address space they never touch
    (unstructured's PDF path imports torch; a CUDA build maps ~4.4 GB), so the cap is the address space
    mapped now plus what is left of the bound after what is resident now: resident memory can grow by no
    more than the address space can, so the peak stays under the bound. Only the soft limit is lowered,
    never raised above the hard one."""
    if limit_mb <= 0:
        return
    from kgflow.parse.partition import preload

    preload()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    headroom = max(limit_mb * 1024 * 1024 - _status("VmRSS") - _UNTOUCHED_LIBRARY_PAGES, _MIN_HEADROOM)
    want = _status("VmSize") + headroom
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft > want:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
