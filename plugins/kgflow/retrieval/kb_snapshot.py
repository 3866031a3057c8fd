"""The knowledge-base snapshot a published version carries: `kb/` in the index version directory.

Written at publish from the graph store the version was loaded into (LadybugDB or Neo4j: both through the
GraphStore SNAPSHOT queries), so gateway workers never read the graph store and a Neo4j deployment serves
from the same files as the embedded default:

    kb/base/chunks.arrow, entities.arrow, keys.arrow, related.arrow   Arrow IPC (uncompressed: mappable)
    kb/base/texts.bin, text_offsets.npy                               chunk texts, read with pread
    kb/base/<array>.npy                                               CSR mentions and adjacency
    kb/base/bm25/                                                     lexical postings (kgflow.retrieval.lexical)
    kb/base/walk_*.npy, walk.json                                     the PPR walk's adjacency (kgflow.retrieval.ppr)
    kb/delta/...                                                      an increment's change (below)
    kb/manifest.json                                                  format and counts; written last: a
                                                                      kb/ without it is never opened

Costs that grow with the change, not the corpus: a nightly increment hard-links its parent's base files
and writes a delta beside them: the rows of the documents changed since that base (read from the store
by document), the base rows they retire (boolean masks), the linking keys whose entity changed, the CSR
arrays of the new rows over the whole view's row numbers, and a BM25 segment with the retired rows' term
counts. A version's delta holds every change since its base, so a view is always base + one delta; once
the delta outgrows `rebuild_tombstone_ratio` of the base, publish writes the snapshot whole again. Either
way the view is the one a full rewrite gives (same rows; tests hold it to that).

Opening maps the files read-only: N workers share one copy in the page cache and switching versions
costs the few hash tables a worker builds (kgflow.retrieval.graph_view).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgflow.chunking.chunker import findable_text
from kgflow.config import Settings
from kgflow.fsutil import atomic_write_text, load_mapped
from kgflow.retrieval.graph_view import (
    ARRAYS,
    KEY_SCHEMA,
    RELATED_SCHEMA,
    TABLES,
    Delta,
    GraphView,
    Texts,
    alias_keys,
    build_columns,
    chunk_table,
    csr_arrays,
    entity_table,
    sort_chunks,
    unique_edges,
)
from kgflow.retrieval.lexical import LexicalIndex, Segment, open_retired, retired_terms, save_retired
from kgflow.retrieval.ppr import save_walk

log = logging.getLogger("kgflow.retrieval")

KB = "kb"
MANIFEST = "manifest.json"
FORMAT = 3  # base + delta, texts apart; a kb/ of another format is rewritten whole
DEAD = ("chunks", "entities", "related")


def snapshot_dir(version_dir: Path) -> Path:
    return Path(version_dir) / KB


def _manifest(version_dir: Path) -> dict | None:
    try:
        m = json.loads((snapshot_dir(version_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return m if m.get("format") == FORMAT else None


def is_complete(version_dir: Path) -> bool:
    return _manifest(version_dir) is not None


def write_snapshot(store, version_dir: Path, settings: Settings, parent: Path | None = None,
                   changed_docs: list[str] | None = None) -> dict:
    """Write the version's kb/ (replacing an incomplete one): a delta over `parent`'s base when the parent
    has a complete snapshot, `changed_docs` names what the run changed and the delta stays within
    rebuild_tombstone_ratio of the base's rows; otherwise the whole snapshot, read from the store once."""
    start = time.perf_counter()
    dest = snapshot_dir(version_dir)
    tmp = dest.with_name(f".{KB}.{os.getpid()}.tmp")  # two workers may write a missing one at once
    shutil.rmtree(tmp, ignore_errors=True)
    if dest.exists() and not is_complete(version_dir):
        shutil.rmtree(dest, ignore_errors=True)
    tmp.mkdir(parents=True)
    info = None
    if parent is not None and changed_docs is not None and is_complete(parent):
        info = _write_delta(store, snapshot_dir(parent), tmp, set(changed_docs), settings.rebuild_tombstone_ratio)
    if info is None:
        info = {"written": "whole", "counts": _write_base(store, tmp / "base", settings)}
    info = {"format": FORMAT, **info, "seconds": round(time.perf_counter() - start, 3)}
    atomic_write_text(tmp / MANIFEST, json.dumps(info, indent=2))
    try:
        tmp.rename(dest)
    except OSError:  # another writer finished first: its snapshot is the same
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def _write_tables(folder: Path, tables: dict[str, pa.Table], arrays: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Texts.write(folder, tables["chunks"].column("text"))  # read with pread, not mapped (graph_view.Texts)
    tables = {**tables, "chunks": tables["chunks"].drop_columns(["text"])}
    for name, table in tables.items():
        with pa.OSFile(str(folder / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)


def _write_base(store, folder: Path, s: Settings) -> dict:
    tables, arrays = build_columns(store.snapshot_rows)
    _write_tables(folder, tables, arrays)
    view = GraphView(tables, arrays)
    Segment.build(view.findable_texts()).save(folder / "bm25")
    save_walk(folder, view, (1.0, s.ppr_relation_weight, s.ppr_next_weight))
    return {name: table.num_rows for name, table in tables.items()} | {"mentions": len(arrays["m_entity"])}


def _link_tree(src: Path, dst: Path) -> None:
    """The parent's base files, shared by a hard link (immutable once written); copied across devices."""
    shutil.copytree(src, dst, copy_function=_link)


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_delta(store, parent_kb: Path, out: Path, changed: set[str], max_delta: float) -> dict | None:
    """The delta of every change since the parent's base, or None when a whole snapshot is due."""
    prev = _open_view(parent_kb)
    nb = prev.base_rows
    base_chunks = prev.tables["chunks"].slice(0, nb["chunks"])
    was = prev.delta.dead if prev.delta is not None else {t: np.zeros(nb[t], bool) for t in DEAD}
    docs = changed | (set(prev.delta.tables["chunks"].column("doc_id").to_pylist()) if prev.delta else set())
    dead_c = np.asarray(was["chunks"]) | pc.is_in(base_chunks.column("doc_id"),
                                                   pa.array(sorted(changed), pa.string())).to_numpy(False)
    chunks = sort_chunks(store.snapshot_rows_for("chunks", sorted(docs)))
    if len(chunks) + int(dead_c.sum()) > max_delta * max(1, nb["chunks"]):
        return None
    c_ids = [c.id for c in chunks]
    mentions = store.snapshot_rows_for("mentions", c_ids)
    related = store.snapshot_rows_for("related", c_ids)

    # base entities: retired once no live base chunk mentions them (the store deleted them; if this run's
    # chunks mention one again, it comes back as a new row with the store's name and aliases)
    base = prev.arrays
    dead_e = np.asarray(was["entities"]).copy()
    newly = np.flatnonzero(dead_c & ~np.asarray(was["chunks"]))
    if len(newly):
        ptr, by_chunk = base["m_chunk_ptr"], base["m_by_chunk"]
        touched = np.unique(np.concatenate([np.asarray(base["m_entity"][by_chunk[ptr[r]:ptr[r + 1]]])
                                            for r in newly.tolist()] or [np.zeros(0, "int32")]))
        m_ptr, m_chunk = base["m_entity_ptr"], base["m_chunk"]
        for e in touched.tolist():
            if dead_c[np.asarray(m_chunk[m_ptr[e]:m_ptr[e + 1]])].all():
                dead_e[e] = True
    base_ids = prev.tables["entities"].column("id").slice(0, nb["entities"]).combine_chunks()
    needed = sorted({m.entity for m in mentions} | {r.src for r in related} | {r.dst for r in related})
    at = pc.index_in(pa.array(needed, pa.string()), value_set=base_ids).to_pylist()
    e_row = {e: r for e, r in zip(needed, at, strict=True) if r is not None and not dead_e[r]}
    new_entities = sorted(store.snapshot_rows_for("entities", [e for e in needed if e not in e_row]),
                          key=lambda r: r.id)
    e_row |= {e.id: nb["entities"] + j for j, e in enumerate(new_entities)}
    c_row = {c.id: nb["chunks"] + j for j, c in enumerate(chunks)}

    rel = prev.tables["related"].slice(0, nb["related"])
    ev = rel.column("chunk").to_numpy()
    dead_r = np.asarray(was["related"]) | (ev >= 0) & dead_c[np.maximum(ev, 0)] \
        | dead_e[rel.column("src").to_numpy()] | dead_e[rel.column("dst").to_numpy()]
    edges = unique_edges(related, e_row.__contains__)
    m = np.asarray(sorted((e_row[x.entity], c_row[x.chunk], int(x.count or 1)) for x in mentions
                          if x.entity in e_row and x.chunk in c_row), "int64").reshape(-1, 3)
    src = np.asarray([e_row[r.src] for r in edges], "int64")
    dst = np.asarray([e_row[r.dst] for r in edges], "int64")
    n_e, n_c = nb["entities"] + len(new_entities), nb["chunks"] + len(chunks)
    arrays = csr_arrays(m, src, dst, nb["related"] + np.arange(len(edges)), n_e, n_c)
    tables = {"chunks": chunk_table(chunks), "entities": entity_table(new_entities),
              "related": pa.Table.from_pylist([{"src": e_row[r.src], "dst": e_row[r.dst], "type": r.type,
                                                "weight": float(r.weight), "chunk": c_row.get(r.chunk, -1)}
                                               for r in edges], schema=RELATED_SCHEMA),
              "keys": _key_overrides(prev, dead_e, new_entities, e_row)}
    _link_tree(parent_kb / "base", out / "base")
    folder = out / "delta"
    _write_tables(folder, tables, arrays)
    for name, mask in (("chunks", dead_c), ("entities", dead_e), ("related", dead_r)):
        np.save(folder / f"dead_{name}.npy", mask)
    # the parent's view numbers base rows as the new one does: the retired rows' texts come from it
    Segment.build([findable_text(c.title or "", c.section or "", c.text) for c in chunks],
                  nb["chunks"]).save(folder / "bm25")
    save_retired(folder / "bm25", retired_terms(prev.findable_texts(np.flatnonzero(dead_c))))
    live = {"chunks": nb["chunks"] - int(dead_c.sum()) + len(chunks),
            "entities": nb["entities"] - int(dead_e.sum()) + len(new_entities)}
    return {"written": "delta", "counts": live,
            "delta": {"documents": len(docs), "chunks": len(chunks), "entities": len(new_entities),
                      "related": len(edges), "mentions": len(m), "retired_chunks": int(dead_c.sum()),
                      "retired_entities": int(dead_e.sum()), "retired_related": int(dead_r.sum())}}


def _key_overrides(prev: GraphView, dead_e: np.ndarray, new_entities: list, e_row: dict[str, int]) -> pa.Table:
    """The entity each affected key names now (-1: none): keys of retired base entities and of new ones.
    A key names its holder with the smallest id, as a whole snapshot's key table does."""
    keys = prev.tables["keys"]
    key_col, ent_col = keys.column("key"), keys.column("entity").to_numpy()
    new_keys = {e.id: alias_keys(e) for e in new_entities}
    affected = set(pc.filter(key_col, pa.array(dead_e[ent_col])).to_pylist()) | {k for ks in new_keys.values()
                                                                                   for k in ks}
    holders: dict[str, list[tuple[str, int]]] = {k: [] for k in affected}
    hit = pc.is_in(key_col, pa.array(sorted(affected), pa.string())).to_numpy(False)
    ids = prev.entity_ids
    for k, e in zip(pc.filter(key_col, pa.array(hit)).to_pylist(), ent_col[hit].tolist(), strict=True):
        if not dead_e[e]:
            holders[k].append((ids[e], e))
    for eid, ks in new_keys.items():
        for k in ks:
            holders[k].append((eid, e_row[eid]))
    rows = sorted((k, min(h)[1] if h else -1) for k, h in holders.items())
    return pa.Table.from_pydict({"key": [k for k, _ in rows], "entity": [e for _, e in rows]}, schema=KEY_SCHEMA)


def _read_part(folder: Path) -> tuple[dict[str, pa.Table], dict[str, np.ndarray], Texts]:
    tables = {name: pa.ipc.open_file(pa.memory_map(str(folder / f"{name}.arrow"), "r")).read_all() for name in TABLES}
    return tables, {name: load_mapped(folder / f"{name}.npy") for name in ARRAYS}, Texts(folder=folder)


def _open_view(kb: Path) -> GraphView:
    tables, arrays, texts = _read_part(kb / "base")
    delta = None
    if (kb / "delta").is_dir():
        d_tables, d_arrays, d_texts = _read_part(kb / "delta")
        delta = Delta(d_tables, d_arrays, {name: load_mapped(kb / "delta" / f"dead_{name}.npy") for name in DEAD},
                      d_texts)
    return GraphView(tables, arrays, delta, texts)


def open_snapshot(version_dir: Path) -> GraphView:
    """The version's graph view over memory-mapped files."""
    if not is_complete(version_dir):
        raise FileNotFoundError(f"{snapshot_dir(version_dir)} holds no complete knowledge-base snapshot")
    return _open_view(snapshot_dir(version_dir))


def open_lexical(kb: Path, view: GraphView) -> LexicalIndex:
    """The version's BM25 segments (base, and the delta's over its own rows) with the view's live rows."""
    segments = [Segment.open(kb / "base" / "bm25")]
    retired = None
    if (kb / "delta").is_dir():
        segments.append(Segment.open(kb / "delta" / "bm25"))
        retired = open_retired(kb / "delta" / "bm25")
    return LexicalIndex(segments, view.chunk_ids, view.live_chunks, retired)
