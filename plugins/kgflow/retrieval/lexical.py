"""Lexical evidence: BM25 over the findable texts of one published version, in segments.

It catches what a small embedding model blurs: the exact rare word of a question ("symptoms" of one
disease, a drug's name, a code).

Why not one bm25s index: bm25s stores finished scores, in which the corpus-wide statistics (document
count, average length, each term's document frequency) are baked; one changed document changes them all,
so a nightly increment would rebuild it whole. Here a segment stores raw postings (term -> rows, term
frequency) and each row's length; the statistics are summed over the segments at query time, minus the
rows a delta retired, as Lucene does across its segments. A version's base segment is written once and
hard-linked by its increments, which add one delta segment over their own rows (kgflow.retrieval.
kb_snapshot). Scoring is bm25s's "lucene" variant with its defaults; tests hold the scores to bm25s's.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from kgflow.fsutil import load_mapped
from kgflow.nlp.terms import terms

K1, B = 1.5, 0.75  # bm25s's defaults
EMPTY = "_"  # the one token of a text without terms (every row has a length)
VOCAB_SCHEMA = pa.schema([("term", pa.string())])
DEAD_SCHEMA = pa.schema([("term", pa.string()), ("rows", pa.int64())])


@dataclass
class Segment:
    """Postings of consecutive rows from `first_row`: term i's rows and frequencies are rows/tf[ptr[i]:ptr[i+1]]."""

    vocab: list[str]
    ptr: np.ndarray
    rows: np.ndarray  # view rows (int32), ascending within a term
    tf: np.ndarray
    length: np.ndarray  # terms per row of this segment
    first_row: int

    @classmethod
    def build(cls, texts: list[str], first_row: int = 0) -> Segment:
        col: dict[str, int] = {}
        cols: list[int] = []
        lengths = np.zeros(len(texts), "int64")
        for i, text in enumerate(texts):
            words = terms(text) or [EMPTY]
            lengths[i] = len(words)
            cols.extend(col.setdefault(w, len(col)) for w in words)
        vocab = sorted(col)
        rank = np.empty(len(col), "int64")
        rank[[col[t] for t in vocab]] = np.arange(len(vocab))
        term = rank[np.asarray(cols, "int64")] if cols else np.zeros(0, "int64")
        row = np.repeat(np.arange(len(texts), dtype="int64"), lengths)
        pairs, tf = np.unique(term * max(1, len(texts)) + row, return_counts=True)
        term_of, row_of = np.divmod(pairs, max(1, len(texts)))
        ptr = np.searchsorted(term_of, np.arange(len(vocab) + 1)).astype("int64")
        return cls(vocab, ptr, (row_of + first_row).astype("int32"), tf.astype("float32"),
                   lengths.astype("float32"), first_row)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(folder / "vocab.arrow"), "wb") as sink, pa.ipc.new_file(sink, VOCAB_SCHEMA) as w:
            w.write_table(pa.table({"term": self.vocab}, schema=VOCAB_SCHEMA))
        for name in ("ptr", "rows", "tf", "length"):
            np.save(folder / f"{name}.npy", getattr(self, name))
        (folder / "first_row").write_text(str(self.first_row))

    @classmethod
    def open(cls, folder: Path) -> Segment:
        """Postings are read with pread per question term, not mapped: mapped, the kernel's fault-around kept
        ~250 MB of them in each worker's RSS at 1M chunks."""
        vocab = pa.ipc.open_file(pa.memory_map(str(folder / "vocab.arrow"), "r")).read_all().column("term")
        arrays = {name: load_mapped(folder / f"{name}.npy") for name in ("ptr", "length")}
        return cls(vocab.to_pylist(), rows=_Npy(folder / "rows.npy"), tf=_Npy(folder / "tf.npy"), **arrays,
                   first_row=int((folder / "first_row").read_text()))

    def postings(self, col: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self.ptr[col]), int(self.ptr[col + 1])
        return np.asarray(self.rows[lo:hi]), np.asarray(self.tf[lo:hi])


class _Npy:
    """A 1-d .npy file whose slices are read with pread."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, self.dtype = read(f)
            self.offset, self._n = f.tell(), int(shape[0])
        self._fd = os.open(path, os.O_RDONLY)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, s: slice) -> np.ndarray:
        lo, hi, _ = s.indices(self._n)
        size = self.dtype.itemsize
        return np.frombuffer(os.pread(self._fd, (hi - lo) * size, self.offset + lo * size), self.dtype) if hi > lo \
            else np.zeros(0, self.dtype)

    def __del__(self) -> None:
        os.close(self._fd)


def retired_terms(texts: list[str]) -> dict[str, int]:
    """Document frequency per term over retired rows: what a delta subtracts from its base's statistics."""
    out: dict[str, int] = {}
    for text in texts:
        for w in set(terms(text) or [EMPTY]):
            out[w] = out.get(w, 0) + 1
    return out


def save_retired(folder: Path, dead: dict[str, int]) -> None:
    with pa.OSFile(str(folder / "retired.arrow"), "wb") as sink, pa.ipc.new_file(sink, DEAD_SCHEMA) as w:
        w.write_table(pa.table({"term": list(dead), "rows": list(dead.values())}, schema=DEAD_SCHEMA))


def open_retired(folder: Path) -> dict[str, int]:
    t = pa.ipc.open_file(pa.memory_map(str(folder / "retired.arrow"), "r")).read_all()
    return dict(zip(t.column("term").to_pylist(), t.column("rows").to_pylist(), strict=True))


class LexicalIndex:
    def __init__(self, segments: list[Segment], chunk_ids: list[str], live: np.ndarray | None = None,
                 retired: dict[str, int] | None = None) -> None:
        """`segments` cover the rows of `chunk_ids` in order; `live` marks the rows not retired (None: all),
        `retired` the document frequency of the retired rows' terms."""
        self.segments, self.chunk_ids, self._live = segments, chunk_ids, live
        self._retired = retired or {}
        self._col = [{t: i for i, t in enumerate(s.vocab)} for s in segments]
        self._length = np.concatenate([np.asarray(s.length) for s in segments]) if segments else np.zeros(0, "f4")
        lengths = self._length if live is None else self._length[live]
        self.n = len(lengths)
        self.avgdl = float(lengths.sum(dtype="float64")) / self.n if self.n else 1.0

    @classmethod
    def build(cls, texts: list[str], chunk_ids: list[str]) -> LexicalIndex:
        """An index held in memory over one segment (a view that has no files behind it)."""
        return cls([Segment.build(texts)], chunk_ids)

    def df(self, term: str) -> int:
        """Live rows holding the term."""
        n = -self._retired.get(term, 0)
        for seg, col in zip(self.segments, self._col, strict=True):
            i = col.get(term)
            if i is not None:
                n += int(seg.ptr[i + 1] - seg.ptr[i])
        return n

    def scores(self, words: list[str]) -> np.ndarray:
        """BM25 of every row for the question's terms (repeated terms count again, as in bm25s)."""
        out = np.zeros(len(self._length), "float32")
        for w in words:
            df = self.df(w)
            if df <= 0:
                continue
            idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
            for seg, col in zip(self.segments, self._col, strict=True):
                i = col.get(w)
                if i is None:
                    continue
                rows, tf = seg.postings(i)
                norm = K1 * ((1 - B) + B * self._length[rows] / self.avgdl)
                out[rows] += (idf * tf / (norm + tf)).astype("float32")
        if self._live is not None:
            out[~self._live] = 0.0
        return out

    def top(self, question: str, n: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Best n (chunk id, BM25 score) with a positive score; `allowed`: a boolean mask over rows."""
        words = terms(question) if self.chunk_ids else []
        if not words or not self.n:
            return []
        scores = self.scores(words)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        top = np.argpartition(-scores, min(n, len(scores) - 1))[:n]
        return sorted(((self.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0), key=lambda kv: -kv[1])


def lexical_index(snap) -> LexicalIndex:
    """The snapshot's lexical index: opened from the version's kb/ once per version, or built in memory for
    a view that has no files behind it."""
    if "lexical" not in snap.cache:
        g = snap.graph
        if snap.kb_dir is not None:
            from kgflow.retrieval.kb_snapshot import open_lexical

            snap.cache["lexical"] = open_lexical(snap.kb_dir, g)
        else:
            snap.cache["lexical"] = LexicalIndex.build(g.findable_texts(), g.chunk_ids)
    return snap.cache["lexical"]
