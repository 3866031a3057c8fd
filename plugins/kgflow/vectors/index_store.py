"""Versioned FAISS indexes: one directory per version, `CURRENT` switched atomically after checks.

A version holds index.faiss, ids.parquet (faiss id -> chunk, document, ACL, active flag) and manifest.json,
which records the index's spec (IndexSpec) as it records the embedder. Two kinds:

- hnsw_flat: IDMap2 over HNSWFlat; the index holds every vector (dims x 4 bytes each, plus its links).
- ivf_pq: IVF + PQ codes (pq_bytes each, optionally OPQ-rotated) in memory; the exact vectors live in
  immutable segment files (vectors-<first id>.npy) that a new version hard-links from its parent, and every
  search re-ranks k x refine_factor candidates on exact inner products, reading just those rows.

New chunks are added incrementally to a copy of the current version; retired chunks become tombstones that
searches skip; past a tombstone ratio (or, for ivf_pq, past 4x the vectors it was trained on) the version is
rebuilt. A version extends only a parent of the same spec: another spec is a full rebuild, like another
embedder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import pandas as pd
import pyarrow as pa

from kgflow.errors import KgflowError
from kgflow.fsutil import atomic_write_text
from kgflow.vectors.embedder import check_variant

CURRENT = "CURRENT"
READER_COLUMNS = ["faiss_id", "chunk_id", "active"]  # a reader's ACLs are the graph's (kb snapshot)
RETRAIN_GROWTH = 4  # an ivf_pq version holding this many times the vectors it was trained on is retrained
OPQ_MIN_VECTORS = 1024  # fewer, and the index is IVF + PQ without the learnt rotation (too few to learn it)
TRAIN_SAMPLE = 100_000  # vectors an ivf_pq index trains on at most (k-means and OPQ converge well before)


class IndexMismatch(KgflowError, RuntimeError):
    """The configured index spec is not the current version's: extending it would mix two indexes."""
    status, error_type, permanent = 503, "not_ready", True


@dataclass(frozen=True)
class IndexSpec:
    """How a version's vectors are held and searched (the build-time half; search knobs are per query)."""
    kind: Literal["hnsw_flat", "ivf_pq"] = "hnsw_flat"
    hnsw_m: int = 16
    ef_construction: int = 200
    ivf_nlist: int = 0  # 0: 4 x sqrt(vectors) at build
    pq_bytes: int = 48
    opq: bool = False

    @classmethod
    def from_settings(cls, s) -> IndexSpec:
        return cls(s.vector_index, s.hnsw_m, s.hnsw_ef_construction, s.ivf_nlist, s.pq_bytes, s.pq_opq)

    def recorded(self) -> dict:
        """What a manifest records and an increment must match: the structure (not build-time effort such as
        efConstruction, which a version may change)."""
        if self.kind == "hnsw_flat":
            return {"kind": self.kind, "m": self.hnsw_m}
        return {"kind": self.kind, "nlist": self.ivf_nlist, "pq_bytes": self.pq_bytes, "opq": self.opq}


def recorded_spec(manifest: dict) -> dict:
    """A version's spec as its manifest records it (versions written before specs were recorded: HNSW)."""
    return manifest.get("index") or {"kind": "hnsw_flat", "m": manifest.get("hnsw", {}).get("m", 16)}


def _describe(spec: dict) -> str:
    return f"{spec['kind']} ({', '.join(f'{k}={v}' for k, v in spec.items() if k != 'kind')})"


class _Segments:
    """Exact vectors of an ivf_pq version: immutable .npy files, rows in faiss-id order. A search reads its few
    scattered rows with pread: through a mapping, each row's page fault would map the pages around it too (the
    kernel's fault-around), and after a few thousand questions a worker's RSS holds most of the file."""

    def __init__(self, d: Path, names: list[str], dims: int) -> None:
        self.arrays = [np.load(d / n, mmap_mode="r") for n in names]  # whole-file reads (a rebuild) only
        self.first = np.array([int(n.split("-")[1].split(".")[0]) for n in names], dtype="int64")
        self.dims = dims
        self._fds = [os.open(d / n, os.O_RDONLY) for n in names]
        self._offsets = [int(a.offset) for a in self.arrays]

    def __del__(self) -> None:
        for fd in getattr(self, "_fds", []):
            os.close(fd)

    def rows(self, faiss_ids: np.ndarray) -> np.ndarray:
        faiss_ids = np.asarray(faiss_ids, dtype="int64")
        out = np.empty((len(faiss_ids), self.dims), dtype="float32")
        row_bytes = self.dims * 4
        seg = np.searchsorted(self.first, faiss_ids, side="right") - 1
        for i, (j, fid) in enumerate(zip(seg.tolist(), faiss_ids.tolist(), strict=True)):
            at = self._offsets[j] + (fid - int(self.first[j])) * row_bytes
            out[i] = np.frombuffer(os.pread(self._fds[j], row_bytes, at), dtype="float32")
        return out

    def all(self) -> np.ndarray:
        return np.vstack(self.arrays) if self.arrays else np.zeros((0, self.dims), "float32")


@dataclass
class VectorIndex:
    index: faiss.Index
    ids: pd.DataFrame  # faiss_id, chunk_id, doc_id, department, acl, active
    manifest: dict
    exact: _Segments | None = None  # ivf_pq: the exact vectors; hnsw_flat keeps them in the index

    @property
    def active(self) -> pd.DataFrame:
        return self.ids[self.ids["active"]]

    def vectors(self) -> np.ndarray:
        """Stored vectors of every row, in faiss-id order."""
        if self.exact is not None:
            return self.exact.all()
        inner = faiss.downcast_index(self.index.index)
        return inner.reconstruct_n(0, inner.ntotal)

    def reconstruct(self, faiss_ids: list[int]) -> np.ndarray:
        """Stored vectors of the given rows (a handful per query: read from the mapped index or segments, never
        copied whole)."""
        if self.exact is not None:
            return self.exact.rows(np.asarray(faiss_ids, dtype="int64"))
        return self.index.reconstruct_batch(np.asarray(faiss_ids, dtype="int64"))

    @cached_property
    def _active_mask(self) -> np.ndarray:
        """Active rows as a boolean per faiss id; computed once per loaded version (it never changes)."""
        ids = self.ids["faiss_id"].to_numpy(dtype="int64")
        mask = np.zeros(int(ids.max()) + 1 if len(ids) else 0, dtype=bool)
        mask[ids[self.ids["active"].to_numpy(dtype=bool)]] = True
        return mask

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, ef_search: int = 128,
               nprobe: int = 64, refine_factor: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product over active rows (optionally only `allowed` faiss ids). `ef_search` is
        hnsw_flat's beam; `nprobe` and `refine_factor` are ivf_pq's lists visited and candidates re-ranked
        exactly per result.

        The rows a query may reach go to FAISS as a bitmap: building one is a few numpy passes (~0.2 ms
        at 100k rows) where a sorted intersection and an id hash set cost ~6 ms per query."""
        mask = self._active_mask
        if allowed is not None:
            allowed = allowed[allowed < len(mask)]
            mask = np.zeros_like(mask)
            mask[allowed] = self._active_mask[allowed]
        if not mask.any():
            return np.zeros((len(queries), 0), "float32"), np.zeros((len(queries), 0), "int64")
        bits = np.packbits(mask, bitorder="little")
        selector = None if allowed is None and mask.all() else faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        queries = np.ascontiguousarray(queries, dtype="float32")
        # the selector only points at `bits`, which lives until this returns
        if self.exact is None:
            return self.index.search(queries, k, params=faiss.SearchParametersHNSW(sel=selector,
                                                                                   efSearch=max(ef_search, k)))
        return self._refined(queries, k, selector, nprobe, refine_factor)

    def _refined(self, queries: np.ndarray, k: int, selector, nprobe: int, refine_factor: int):
        """ivf_pq: k x refine_factor candidates by their codes, re-ranked on exact inner products."""
        if isinstance(self.index, faiss.IndexPreTransform):  # OPQ rotates the query, then the IVF searches
            params = faiss.SearchParametersPreTransform(index_params=faiss.SearchParametersIVF(sel=selector,
                                                                                               nprobe=nprobe))
        elif isinstance(self.index, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        else:  # a version too small to train is exact already
            params = faiss.SearchParameters(sel=selector)
        _, cand = self.index.search(queries, k * max(1, refine_factor), params=params)
        scores = np.full((len(queries), k), -np.inf, dtype="float32")
        ids = np.full((len(queries), k), -1, dtype="int64")
        for i, row in enumerate(cand):
            row = row[row >= 0]
            if not len(row):
                continue
            exact = self.exact.rows(row) @ queries[i]
            top = np.argsort(-exact, kind="stable")[:k]
            scores[i, :len(top)], ids[i, :len(top)] = exact[top], row[top]
        return scores, ids


def new_hnsw(dims: int, m: int, ef_construction: int) -> faiss.Index:
    inner = faiss.IndexHNSWFlat(dims, m, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = ef_construction
    return faiss.IndexIDMap2(inner)


def new_ivf_pq(vectors: np.ndarray, nlist: int = 0, pq_bytes: int = 48, opq: bool = False,
               seed: int = 0) -> tuple[faiss.Index, str]:
    """An IVF + PQ index (optionally behind a learnt OPQ rotation) trained on (a sample of) `vectors`, empty;
    and its factory string. Lists and code sizes shrink to what the vectors can train (k-means needs a few
    dozen points per centroid); under two vectors there is nothing to train, and the index is exact."""
    n, dims = vectors.shape
    if n < 2:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dims)), "IDMap2,Flat"
    nlist = max(1, min(nlist or int(4 * np.sqrt(n)), n // 39))
    m = max(b for b in range(1, min(pq_bytes, dims) + 1) if dims % b == 0)  # PQ needs dims divisible by m
    nbits = min(8, int(np.log2(n)))
    # OPQ's rotation is learnt with 8-bit sub-quantizers of its own: it needs well over 256 vectors
    factory = ("OPQ{m}," if opq and n >= OPQ_MIN_VECTORS else "").format(m=m) + f"IVF{nlist},PQ{m}x{nbits}"
    index = faiss.index_factory(dims, factory, faiss.METRIC_INNER_PRODUCT)
    # polysemous training (the factory's default) orders codes for Hamming filtering, which kgflow's searches
    # never use; it is most of the training time (27 of 28 s for 4,000 vectors)
    faiss.downcast_index(faiss.extract_index_ivf(index)).do_polysemous_training = False
    sample = vectors if n <= TRAIN_SAMPLE else vectors[np.random.default_rng(seed).choice(n, TRAIN_SAMPLE,
                                                                                          replace=False)]
    index.train(np.ascontiguousarray(sample, dtype="float32"))
    return index, factory


class VectorIndexStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def current_version(self) -> str | None:
        p = self.root / CURRENT
        return p.read_text().strip() if p.exists() else None

    def load(self, version: str | None = None, mmap: bool = False) -> VectorIndex | None:
        """`mmap`: map the stored vectors read-only instead of copying them (readers: every worker shares one
        copy in the page cache); a writer that extends the index loads it whole."""
        version = version or self.current_version()
        if not version:
            return None
        d = self.root / version
        manifest = json.loads((d / "manifest.json").read_text())
        segments = manifest.get("vector_segments")
        # HNSWFlat's codes are mapped in place; an ivf_pq index is small and read whole, its vectors mapped
        flags = faiss.IO_FLAG_MMAP_IFC if mmap and segments is None else 0
        # a reader needs the id map and the tombstones, not what the next build copies forward
        # readers keep the columns in Arrow (compact strings; ~400 MB less per worker at 1M than pandas objects)
        ids = (pd.read_parquet(d / "ids.parquet", columns=READER_COLUMNS, dtype_backend="pyarrow") if mmap else
               pd.read_parquet(d / "ids.parquet"))
        pa.default_memory_pool().release_unused()  # the Parquet decode's buffers, kept by the allocator
        return VectorIndex(faiss.read_index(str(d / "index.faiss"), flags), ids, manifest,
                           _Segments(d, segments, manifest["dims"]) if segments is not None else None)

    def build(
        self,
        run_id: str,
        new_rows: pd.DataFrame,
        new_vectors: np.ndarray,
        retired_docs: list[str],
        embedder: str,
        spec: IndexSpec | None = None,
        rebuild_ratio: float = 0.2,
        full_rebuild: bool = False,
    ) -> str:
        """Write a new version from the current one plus `new_rows` minus `retired_docs`; return its name.
        Raises IndexMismatch when the current version was built to another spec (unless `full_rebuild`)."""
        spec = spec or IndexSpec()
        prev = None if full_rebuild else self.load()
        if prev is not None:
            check_variant(prev.manifest.get("embedder"), embedder)  # one index, one vector space
            if (was := recorded_spec(prev.manifest)) != spec.recorded():
                raise IndexMismatch(f"the current index {prev.manifest['version']} is {_describe(was)} but the "
                                    f"settings ask for {_describe(spec.recorded())}: set them back, or rebuild "
                                    "the index (knowledge_ingest with full_rebuild)")
        dims = new_vectors.shape[1] if len(new_vectors) else (prev.manifest["dims"] if prev else 384)
        new_vectors = np.ascontiguousarray(new_vectors, dtype="float32").reshape(-1, dims)
        rebuild = prev is None
        if prev is not None:
            ids = prev.ids.copy()
            # a changed document comes back under the same doc id: its old rows retire too
            ids.loc[ids["doc_id"].isin(set(retired_docs)), "active"] = False
            tomb = 1.0 - ids["active"].mean() if len(ids) else 0.0
            trained_on = prev.manifest.get("trained_on")
            rebuild = tomb > rebuild_ratio or (
                trained_on is not None and len(ids) + len(new_rows) > RETRAIN_GROWTH * max(trained_on, 1))
        version = time.strftime("v%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        tmp = self.root / f".{version}.tmp"
        tmp.mkdir(parents=True)
        extra: dict = {}
        if rebuild:
            keep = ids["active"].to_numpy() if prev is not None else np.zeros(0, bool)
            old_vecs = prev.vectors()[keep] if prev is not None else np.zeros((0, dims), "float32")
            old_rows = ids[ids["active"]] if prev is not None else new_rows.iloc[:0]
            rows = pd.concat([old_rows.drop(columns=["faiss_id", "active"], errors="ignore"), new_rows])
            vecs = np.vstack([old_vecs, new_vectors]).astype("float32") if len(rows) else np.zeros((0, dims), "f4")
            ids = rows.reset_index(drop=True).assign(faiss_id=np.arange(len(rows), dtype="int64"), active=True)
            if spec.kind == "hnsw_flat":
                index = new_hnsw(dims, spec.hnsw_m, spec.ef_construction)
            else:
                index, factory = new_ivf_pq(vecs, spec.ivf_nlist, spec.pq_bytes, spec.opq)
                extra = {"factory": factory, "trained_on": len(vecs), "vector_segments": []}
            mode = "rebuild"
        else:
            index = faiss.deserialize_index(faiss.serialize_index(prev.index))
            start = int(ids["faiss_id"].max()) + 1 if len(ids) else 0
            add = new_rows.reset_index(drop=True).assign(
                faiss_id=np.arange(start, start + len(new_rows), dtype="int64"), active=True)
            ids = pd.concat([ids, add], ignore_index=True)
            vecs = new_vectors
            if prev.exact is not None:  # the parent's segments are immutable: linked, not copied
                parent = self.root / prev.manifest["version"]
                for name in prev.manifest["vector_segments"]:
                    _link_or_copy(parent / name, tmp / name)
                extra = {k: prev.manifest[k] for k in ("factory", "trained_on", "vector_segments")}
            mode = "incremental"
        if len(vecs):
            first = int(ids["faiss_id"].to_numpy()[-len(vecs)])
            index.add_with_ids(vecs, ids["faiss_id"].to_numpy()[-len(vecs):])
            if "vector_segments" in extra:
                name = f"vectors-{first:012d}.npy"
                np.save(tmp / name, vecs)
                extra["vector_segments"] = [*extra["vector_segments"], name]
        faiss.write_index(index, str(tmp / "index.faiss"))
        ids.to_parquet(tmp / "ids.parquet", index=False)
        manifest = {"version": version, "embedder": embedder, "dims": int(dims), "count": int(ids["active"].sum()),
                    "total": int(len(ids)), "source_run": run_id, "parent": prev.manifest["version"] if prev else None,
                    "mode": mode, "index": spec.recorded(), **extra,
                    **({"hnsw": {"m": spec.hnsw_m, "ef_construction": spec.ef_construction}}
                       if spec.kind == "hnsw_flat" else {}),
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        tmp.rename(self.root / version)
        return version

    def publish(self, version: str) -> None:
        """Atomic pointer switch: readers see either the old version or the new one, never a mix."""
        atomic_write_text(self.root / CURRENT, version + "\n")

    def version_dir(self, version: str) -> Path:
        return self.root / version

    def prune(self, keep: int = 3) -> list[str]:
        """Delete all but the newest `keep` versions (never the current one)."""
        cur = self.current_version()
        versions = sorted(p.name for p in self.root.glob("v*") if p.is_dir())
        gone = [v for v in versions[:-keep] if v != cur]
        for v in gone:
            shutil.rmtree(self.root / v, ignore_errors=True)
        return gone


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not supported
        shutil.copy2(src, dst)
