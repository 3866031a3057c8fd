"""Spark job: spaCy NER + EntityRuler, normalisation and relation extraction over the run's chunks.

Reads <run>/chunks; writes <run>/mentions, <run>/entities, <run>/relations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from kgflow.schemas import columns

EXTRACTED_DDL = (
    "kind STRING, chunk_id STRING, doc_id STRING, entity_id STRING, name STRING, label STRING, count INT, "
    "rel_id STRING, src STRING, dst STRING, type STRING, weight DOUBLE, evidence_chunk STRING"
)
_COLS = [c.split()[0] for c in EXTRACTED_DDL.split(", ")]


def extract_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    from kgflow.config import offline_env
    from kgflow.nlp.extract import extract_chunks

    offline_env()
    for batch in batches:
        rows = [{"kind": kind, **row} for kind, row in extract_chunks(batch.to_dict("records"))]
        yield pd.DataFrame(rows, columns=_COLS)


def run(spark, run_dir: Path) -> dict[str, int]:
    from pyspark.sql import functions as F

    from kgflow.etl.session import output_partitions

    chunks = spark.read.parquet(str(run_dir / "chunks"))
    n_docs = chunks.select("doc_id").distinct().count()
    # whole documents per partition (surname resolution is per document), in reading order
    out = (chunks.repartition(output_partitions(spark, n_docs, per_core=2), "doc_id")
           .sortWithinPartitions("doc_id", "ord").select("chunk_id", "doc_id", "text")
           .mapInPandas(extract_partition, schema=EXTRACTED_DDL).cache())
    mentions = out.filter(F.col("kind") == "mention").select(*columns("mentions"))
    relations = out.filter(F.col("kind") == "relation").select(*columns("relations"))
    # one canonical entity per key across all documents: the most frequent surface form and label win
    entities = mentions.groupBy("entity_id").agg(
        F.mode("name").alias("name"), F.mode("label").alias("label"),
        F.sort_array(F.collect_set("name")).alias("aliases"))
    parts = max(1, output_partitions(spark, n_docs, 1))
    for name, df in (("mentions", mentions), ("entities", entities), ("relations", relations)):
        df.coalesce(parts).write.mode("overwrite").parquet(str(run_dir / name))
    counts = {"mentions": mentions.count(), "entities": entities.count(), "relations": relations.count()}
    out.unpersist()
    return counts
