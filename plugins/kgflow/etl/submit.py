"""The body of every spark_jobs/ entry point (what spark-submit runs): settings are built here, once, and
passed to the job."""

from __future__ import annotations

from kgflow.config import get_settings
from kgflow.etl.session import spark_session


def submit_main(app_name: str, job) -> None:
    """Body of a spark_jobs/ entry point: parse --run-dir, run the job, print its counts as JSON."""
    import argparse
    import json
    from pathlib import Path

    ap = argparse.ArgumentParser(prog=app_name)
    ap.add_argument("--run-dir", required=True, type=Path)
    args = ap.parse_args()
    from kgflow.logs import bind, configure

    configure(f"spark:{app_name}")
    bind(run_id=args.run_dir.name)  # the run directory is named after the Airflow run
    spark = spark_session(app_name)
    try:
        print(json.dumps({"job": app_name, **job.run(spark, args.run_dir, get_settings())}))
    finally:
        spark.stop()
