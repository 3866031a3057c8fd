"""The embed stage (spark_jobs/embed.py) on a local standalone cluster (a master and a 2-core worker, started
with pyspark's spark-class) vs `local[2]`, on the same staged chunks, each submitted as the DAG submits it.

Chunks: a finished run of bench/ingest_bench.py (default: var/bench/ab-new), copied into a scratch run
directory per attempt.

    .venv/bin/python bench/spark_embed_bench.py [--run DIR] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, table  # noqa: E402


def submit(master: str, run: Path) -> float:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    t0 = time.perf_counter()
    r = subprocess.run([str(Path(sys.executable).parent / "spark-submit"), "--master", master, "--conf",
                        "spark.ui.enabled=false", str(REPO / "spark_jobs" / "embed.py"), "--run-dir", str(run)],
                       env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    import pandas as pd

    from kgflow.etl.cluster import standalone_cluster

    runs = [p for p in (REPO / "var" / "bench" / "ab-new" / "runs").glob("manual__*") if (p / "embed.json").exists()]
    run = args.run or max(runs, key=lambda p: p.stat().st_mtime)
    n = len(pd.read_parquet(run / "chunks"))
    scratch = Path(tempfile.mkdtemp(prefix="kgflow-spark-embed-"))

    def attempt(master: str, i: int) -> float:
        d = scratch / f"{'local' if master.startswith('local') else 'cluster'}-{i}"
        d.mkdir()
        shutil.copytree(run / "chunks", d / "chunks")
        return submit(master, d)

    rows = []
    local = [attempt("local[2]", i) for i in range(args.repeat)]
    with standalone_cluster(scratch / "cluster", cores=2) as c:
        cluster = [attempt(c["master"], i) for i in range(args.repeat)]
    variant = json.loads(next(scratch.glob("local*/embed.json")).read_text())["variant"]
    for label, times in (("local[2] (baseline)", local), ("standalone cluster, 1 worker x 2 cores", cluster)):
        best = min(times)
        rows.append([label, best, n / best, " / ".join(f"{t:.1f}" for t in times)])
    print(f"\n{n} chunks from {run.name}; embedder {variant}; {os.cpu_count()} cores")
    print(table("embed stage (spark-submit, whole job incl. JVM start)", ["master", "best s", "chunks/s", "runs s"],
                rows))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
