"""SparkSession for kgflow jobs: spark-submit decides the master; a session made without it names one."""

from __future__ import annotations

import os
import sys

from kgflow.config import offline_env

# The one place kgflow's Spark settings live: spark-submit passes them (SparkStageOperator's conf), and a
# session made without spark-submit (benches, the job tests) sets the same.
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    # staged tables hold document text: Hadoop's own umask (022) would open them
    "spark.hadoop.fs.permissions.umask-mode": "077",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def spark_session(app_name: str, master: str = "local[*]"):
    from pyspark.sql import SparkSession

    offline_env()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # under spark-submit, prepare_env set it already
    builder = SparkSession.builder.appName(app_name)
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):  # not under spark-submit: pick the master ourselves
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # in-process Spark stays off the network
        builder = builder.master(master)
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def output_partitions(spark, n_rows: int, per_core: int = 2) -> int:
    cores = spark.sparkContext.defaultParallelism
    return max(1, min(n_rows, cores * per_core))
