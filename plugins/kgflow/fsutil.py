"""Atomic file replacement: readers see the old content or the new, never a half-written file.

The one helper for every pointer and state file kgflow rewrites in place (index CURRENT, the manifest,
the model registry, the deployer's and the gateways' serving state).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` when the block ends without error.
    The name is unique per process and thread, so concurrent writers never share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def make_private(home: Path) -> None:
    """Everything a process writes under the kgflow home from now on is its owner's alone: files 0600 and
    folders 0700 (documents' text, logs with document paths, the audit log), and the home itself 0700. Called
    where a process begins: the CLI, the gateway, each Airflow task."""
    os.umask(0o077)
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)


def load_mapped(path: Path):
    """A .npy file mapped read-only (workers share its pages), or read when it is empty (which cannot be
    mapped)."""
    import numpy as np

    try:
        return np.load(path, mmap_mode="r")
    except ValueError:
        return np.load(path)
