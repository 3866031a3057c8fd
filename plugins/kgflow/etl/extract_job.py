"""Spark job: spaCy NER + EntityRuler, normalisation and relation extraction over the run's chunks.

Reads <run>/chunks; writes <run>/mentions, <run>/entities, <run>/relations, and <run>/quarantine_extract
for documents whose extraction failed (the validate task takes them out of the staged tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from kgflow.config import Settings
from kgflow.schemas import columns, spark_ddl


def extract_documents(records: list[dict], max_entity_chars: int, glossary_dir: str | None = None) -> list[dict]:
    """Rows for one batch, extracted document by document: a document whose extraction fails becomes a
    'quarantine' row (its other rows dropped) and the rest of the batch goes on."""
    from itertools import groupby

    from kgflow.nlp.extract import extract_chunks

    out: list[dict] = []
    for doc_id, group in groupby(records, key=lambda r: r["doc_id"]):
        chunk_rows = list(group)
        try:
            rows = extract_chunks(chunk_rows, max_entity_chars=max_entity_chars, glossary_dir=glossary_dir)
            out += [{"kind": kind, **row} for kind, row in rows]
        except Exception as e:  # noqa: BLE001 - one document's failure is that document's, not the run's
            out.append({"kind": "quarantine", "doc_id": doc_id, "name": f"{type(e).__name__}: {e}"[:500]})
    return out


def extract_partition(max_entity_chars: int, glossary_dir: str | None):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from kgflow.config import offline_env

        offline_env()
        for batch in batches:
            rows = extract_documents(batch.to_dict("records"), max_entity_chars, glossary_dir)
            # explicit dtypes: an all-null column must not reach Arrow as an untyped object column
            yield pd.DataFrame(rows, columns=list(columns("extracted"))).astype({"count": "Int32", "weight": "float64"})

    return run


def run(spark, run_dir: Path, s: Settings) -> dict[str, int]:
    from pyspark.sql import functions as F

    from kgflow.etl.session import output_partitions

    chunks = spark.read.parquet(str(run_dir / "chunks"))
    n_docs = chunks.select("doc_id").distinct().count()
    # whole documents per partition (surname resolution is per document), in reading order
    out = (chunks.repartition(output_partitions(spark, n_docs, per_core=2), "doc_id")
           .sortWithinPartitions("doc_id", "ord").select("chunk_id", "doc_id", "text")
           .mapInPandas(extract_partition(s.max_entity_chars, str(s.glossary_path)),
                        schema=spark_ddl("extracted")).cache())
    failed = out.filter(F.col("kind") == "quarantine").select(
        "doc_id", F.lit(None).cast("string").alias("uri"), F.lit(None).cast("string").alias("sha256"),
        F.lit("extract_failed").alias("reason"), F.col("name").alias("detail"), F.lit("extract").alias("stage"))
    mentions = out.filter(F.col("kind") == "mention").select(*columns("mentions"))
    relations = out.filter(F.col("kind") == "relation").select(*columns("relations"))
    # one canonical entity per key across all documents: the most frequent surface form and label win
    entities = mentions.groupBy("entity_id").agg(
        F.mode("name").alias("name"), F.mode("label").alias("label"),
        F.sort_array(F.collect_set("name")).alias("aliases"))
    parts = max(1, output_partitions(spark, n_docs, 1))
    for name, df in (("mentions", mentions), ("entities", entities), ("relations", relations),
                     ("quarantine_extract", failed)):
        df.coalesce(parts).write.mode("overwrite").parquet(str(run_dir / name))
    counts = {"mentions": mentions.count(), "entities": entities.count(), "relations": relations.count(),
              "quarantined": failed.count()}
    out.unpersist()
    return counts
