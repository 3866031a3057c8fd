"""Stable, content-derived keys: the same input always yields the same id, so loads are idempotent."""

from __future__ import annotations

import hashlib


def stable_id(prefix: str, *parts: object) -> str:
    # surrogateescape: a file name that is not valid UTF-8 still gets its own stable id instead of a crash
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode("utf-8", "surrogateescape"), digest_size=12)
    return f"{prefix}_{h.hexdigest()}"


def sha256_stream(f, bufsize: int = 1 << 20) -> str:
    """sha256 of an open binary file, read in blocks (files may be far larger than memory)."""
    h = hashlib.sha256()
    while chunk := f.read(bufsize):
        h.update(chunk)
    return h.hexdigest()
