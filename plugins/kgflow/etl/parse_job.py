"""Spark job: parse + chunk the run's new and changed documents into staged Parquet tables.

Reads <run>/changes.parquet; writes <run>/documents, <run>/chunks, <run>/quarantine.
Each document is read through its source root (never by a path that could leave it) and parsed in a
Python worker; a bad one becomes a quarantine row, never a failed job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pandas as pd

from kgflow.config import Settings
from kgflow.logs import bound
from kgflow.schemas import columns, spark_ddl

log = logging.getLogger("kgflow.etl.parse")

def parse_row(row, sources: dict, limits, options: dict):
    """One changes row -> ParsedDocument; reading failures are quarantine reasons like parsing ones."""
    from kgflow.parse.document import ParsedDocument, parse_document
    from kgflow.sources.base import FileTooLarge, PathEscape, file_name

    if isinstance(row.reason, str):  # refused at discovery (link, forbidden, bad department): never opened
        return ParsedDocument(row.doc_id, quarantine_reason=row.reason, quarantine_detail=row.detail)
    try:
        data = sources[row.source].read(row.rel_path, limits.max_bytes)
    except FileTooLarge as e:
        return ParsedDocument(row.doc_id, quarantine_reason="too_large", quarantine_detail=str(e.strerror))
    except PathEscape:
        return ParsedDocument(row.doc_id, quarantine_reason="symlink",
                              quarantine_detail="became a symbolic link after discovery: not followed")
    except OSError as e:
        return ParsedDocument(row.doc_id, quarantine_reason="unreadable",
                              quarantine_detail=f"cannot be read: {e.strerror or e}")
    return parse_document(data, file_name(row.rel_path), row.doc_id, limits, **options)


def parse_partition(run_dir: str, limits, options: dict, memory_mb: int, s: Settings) -> callable:
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pathlib import Path

        from kgflow.config import offline_env
        from kgflow.etl.worker import bound_memory
        from kgflow.ingest.steps import run_sources

        offline_env()
        bound_memory(memory_mb)
        # each executor opens the run's sources itself (an S3 client here, not on the driver)
        sources = run_sources(Path(run_dir), s)  # the driver's settings, shipped with the closure
        for batch in batches:
            out = []
            for row in batch.itertuples(index=False):
                p = parse_row(row, sources, limits, options)
                out.append({
                    "doc_id": row.doc_id, "uri": row.uri, "sha256": row.sha256, "department": row.department,
                    "acl": list(row.acl), "size_bytes": int(row.size_bytes), "title": p.title, "tags": p.tags,
                    "format": p.format or row.ext, "n_elements": p.n_elements,
                    "reason": p.quarantine_reason, "detail": p.quarantine_detail,
                    "duplicate_of": row.duplicate_of if isinstance(row.duplicate_of, str) else None,
                    "chunks": [{"chunk_id": c.chunk_id, "ord": c.ord, "text": c.text, "page": c.page,
                                "section": c.section}
                               for c in p.chunks],
                })
            yield pd.DataFrame(out)

    return run


def run(spark, run_dir, s: Settings) -> dict[str, int]:
    from pyspark.sql import functions as F

    from kgflow.etl.session import output_partitions
    from kgflow.parse.sniff import Limits

    limits = Limits.from_settings(s)
    options = {"max_chars": s.chunk_max_chars, "new_after": s.chunk_new_after_chars,
                "overlap": s.chunk_overlap_chars, "languages": tuple(s.document_languages), "chunker": s.chunker}
    changes = spark.read.parquet(str(run_dir / "changes.parquet")).filter(F.col("change").isin("new", "changed"))
    n = changes.count()
    # one document per task slot, spread evenly: parse cost is per document, not per byte
    parsed = changes.repartition(output_partitions(spark, n, per_core=4)).mapInPandas(
        parse_partition(str(run_dir), limits, options, s.parse_worker_memory_mb, s), schema=spark_ddl("parsed")).cache()
    ok = parsed.filter(F.col("reason").isNull())
    docs = ok.select("doc_id", "uri", "title", "tags", "sha256", "department", "acl", "format", "size_bytes",
                     "n_elements", F.size("chunks").cast("int").alias("n_chunks"), "duplicate_of")
    chunks = ok.select("doc_id", F.explode("chunks").alias("c")).select(
        "c.chunk_id", "doc_id", "c.ord", "c.text", "c.page", F.length("c.text").cast("int").alias("n_chars"),
        "c.section")
    quarantine = parsed.filter(F.col("reason").isNotNull()).select(
        "doc_id", "uri", "sha256", "reason", "detail", F.lit("parse").alias("stage"))
    for name, df in (("documents", docs), ("chunks", chunks), ("quarantine", quarantine)):
        df.select(*columns(name)).coalesce(
            max(1, output_partitions(spark, n, 1))).write.mode("overwrite").parquet(str(run_dir / name))
    counts = {"documents": docs.count(), "chunks": chunks.count(), "quarantined": quarantine.count()}
    for q in quarantine.select("doc_id", "uri", "reason", "detail").toLocalIterator():
        with bound(doc_id=q.doc_id, uri=q.uri, reason=q.reason):  # one JSON line per document set aside
            log.warning("document quarantined: %s", q.detail)
    parsed.unpersist()
    return counts
