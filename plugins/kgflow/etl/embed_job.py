"""Spark job: embed the run's validated chunks, one model per Python worker, into <run>/vectors.

Each task slot embeds its partition with one thread (spark.task.cpus), so a cluster embeds on every
executor core and build_index only builds FAISS. The variant that embedded them goes to <run>/embed.json,
and build_index records it in the index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from kgflow.config import Settings
from kgflow.schemas import spark_ddl


def embed_partition(name: str, backend: str, threads: int, batch_size: int) -> callable:
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from kgflow.vectors.embedder import Embedder

        embedder = Embedder(name, backend, threads, batch_size)  # loaded once per Python worker (cached)
        from kgflow.chunking.chunker import findable_text

        for batch in batches:
            texts = [findable_text(t or "", s or "", x) for t, s, x in zip(batch["title"], batch["section"],
                                                                          batch["text"], strict=True)]
            vectors = embedder.embed(texts)
            yield pd.DataFrame({"chunk_id": batch["chunk_id"].to_numpy(), "vector": list(vectors)})

    return run


def run(spark, run_dir: Path, s: Settings) -> dict[str, int]:
    from kgflow.etl.session import output_partitions
    from kgflow.vectors.embedder import resolve

    backend = resolve(s.embedder_backend, "batch")  # once, on the driver: one variant for the whole run
    # a chunk is embedded as it is found: its document's title and its section path before its text
    titles = spark.read.parquet(str(run_dir / "documents")).select("doc_id", "title")
    chunks = (spark.read.parquet(str(run_dir / "chunks")).join(titles, "doc_id", "left")
              .select("chunk_id", "title", "section", "text"))
    n = chunks.count()
    threads = int(spark.conf.get("spark.task.cpus", "1"))
    # a few partitions per core: an even spread without reloading the model per small task
    vectors = chunks.repartition(output_partitions(spark, n, per_core=2)).mapInPandas(
        embed_partition(s.embedder, backend, threads, s.embed_batch_size), schema=spark_ddl("vectors"))
    vectors.write.mode("overwrite").parquet(str(run_dir / "vectors"))
    (run_dir / "embed.json").write_text(json.dumps({"variant": f"{s.embedder}:{backend}",
                                                    "chunks": n, "threads_per_task": threads}))
    return {"embedded": n}
