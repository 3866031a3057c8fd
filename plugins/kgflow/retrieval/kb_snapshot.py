"""The knowledge-base snapshot a published version carries: `kb/` in the index version directory.

Written once, at publish, from the graph store the version was loaded into (LadybugDB or Neo4j: both
through the GraphStore SNAPSHOT queries), so gateway workers never read the graph store and a Neo4j
deployment serves from the same files as the embedded default:

    kb/chunks.arrow, entities.arrow, keys.arrow, related.arrow   Arrow IPC files (uncompressed: mappable)
    kb/<array>.npy                                               CSR mentions and adjacency
    kb/bm25/                                                     the lexical index (bm25s, mappable)
    kb/manifest.json                                             counts; written last: a kb/ without it
                                                                 is incomplete and never opened

Opening maps the files read-only: N workers share one copy in the page cache and switching versions
costs the few hash tables a worker builds (kgflow.retrieval.graph_view).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

from kgflow.fsutil import atomic_write_text
from kgflow.retrieval.graph_view import ARRAYS, TABLES, GraphView, build_columns

log = logging.getLogger("kgflow.retrieval")

KB = "kb"
MANIFEST = "manifest.json"


def snapshot_dir(version_dir: Path) -> Path:
    return Path(version_dir) / KB


def is_complete(version_dir: Path) -> bool:
    return (snapshot_dir(version_dir) / MANIFEST).exists()


def write_snapshot(store, version_dir: Path) -> dict:
    """Read the graph store once and write the version's kb/ (replacing an incomplete one)."""
    from kgflow.retrieval.lexical import LexicalIndex

    tables, arrays = build_columns(store.snapshot_rows)
    dest = snapshot_dir(version_dir)
    tmp = dest.with_name(f".{KB}.{os.getpid()}.tmp")  # two workers may write a missing one at once
    shutil.rmtree(tmp, ignore_errors=True)
    if dest.exists() and not is_complete(version_dir):
        shutil.rmtree(dest, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, table in tables.items():
        with pa.OSFile(str(tmp / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, TABLES[name]) as writer:
            writer.write_table(table)
    for name in ARRAYS:
        np.save(tmp / f"{name}.npy", arrays[name])
    LexicalIndex.build(GraphView(tables, arrays).findable_texts()).save(str(tmp / "bm25"), show_progress=False)
    counts = {name: table.num_rows for name, table in tables.items()} | {"mentions": len(arrays["m_entity"])}
    atomic_write_text(tmp / MANIFEST, json.dumps({"counts": counts}, indent=2))
    try:
        tmp.rename(dest)
    except OSError:  # another writer finished first: its snapshot is the same
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


def _array(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except ValueError:  # an empty array cannot be mapped
        return np.load(path)


def open_snapshot(version_dir: Path) -> GraphView:
    """The version's graph view over memory-mapped files."""
    d = snapshot_dir(version_dir)
    if not (d / MANIFEST).exists():
        raise FileNotFoundError(f"{d} holds no complete knowledge-base snapshot")
    tables = {name: pa.ipc.open_file(pa.memory_map(str(d / f"{name}.arrow"), "r")).read_all() for name in TABLES}
    arrays = {name: _array(d / f"{name}.npy") for name in ARRAYS}
    return GraphView(tables, arrays)
