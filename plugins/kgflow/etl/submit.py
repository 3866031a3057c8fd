"""The body of every spark_jobs/ entry point (what spark-submit runs): settings are built here, once, and
passed to the job."""

from __future__ import annotations

from kgflow.config import get_settings
from kgflow.etl.session import spark_session


def submit_main(app_name: str, job) -> None:
    """Body of a spark_jobs/ entry point: parse --run-dir, run the job, log its counts (one "job done" line
    with key=value pairs in the task's log, like every other event of the job)."""
    import argparse
    import logging
    from pathlib import Path

    ap = argparse.ArgumentParser(prog=app_name)
    ap.add_argument("--run-dir", required=True, type=Path)
    args = ap.parse_args()
    from kgflow.logs import bind, bound, configure

    configure(f"spark:{app_name}")
    bind(run_id=args.run_dir.name)  # the run directory is named after the Airflow run
    spark = spark_session(app_name)
    try:
        counts = job.run(spark, args.run_dir, get_settings())
        with bound(job=app_name, **counts):
            logging.getLogger("kgflow.etl").info("job done")
    finally:
        spark.stop()
