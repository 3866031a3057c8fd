"""SparkStageOperator: the provider's SparkSubmitOperator, skipped when the run has nothing to parse."""

from __future__ import annotations

import json
import os
from pathlib import Path

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from kgflow.config import REPO_ROOT
from kgflow.etl.session import SPARK_CONF
from kgflow.ingest.steps import pending_documents
from kgflow.orchestration.runtime import prepare_env, skip

SPARK_JOBS = REPO_ROOT / "spark_jobs"
SPARK_LOG4J = REPO_ROOT / "ops" / "spark" / "log4j2.properties"
# The driver JVM plans jobs and writes Parquet; the work is in Python workers. C1-only JIT and the serial
# collector start it faster and leave the cores to those workers: measured on 2 cores, a no-op stage
# 8.6 -> 7.7 s (JVM CPU 11.4 -> 6.9 s) and the extract stage 39.2 -> 35.7 s. Executors on a cluster
# keep the JVM's defaults; in local[N] the driver is the executor.
DRIVER_JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


class LeveledSparkSubmitHook(SparkSubmitHook):
    """The provider's hook, relaying the job's own log lines (kgflow.logs' JSON) at their level and as a short
    message with key=value pairs, so a quarantine is a WARNING in the task log and a line fits the log panel;
    every other line of spark-submit's output is relayed as the provider does."""

    def _process_spark_submit_log(self, itr):
        def relevel(lines):
            for raw in lines:
                record = job_record(raw)
                if record is None:
                    yield raw
                else:
                    self.log.log(*record)

        return super()._process_spark_submit_log(relevel(itr))


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_NOT_FIELDS = {"event", "level", "timestamp", "logger", "component"}


def job_record(line: str) -> tuple[int, str] | None:
    """(level, "message key=value ...") of a kgflow JSON log line from a Spark job; None for any other line."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict) or "event" not in rec or rec.get("level") not in _LEVELS:
        return None
    pairs = " ".join(f"{k}={json.dumps(v) if isinstance(v, str) and ' ' in v else v}" for k, v in rec.items()
                     if k not in _NOT_FIELDS)
    return _LEVELS[rec["level"]], f"{rec['event']} {pairs}".strip()


class SparkStageOperator(SparkSubmitOperator):
    """spark-submit spark_jobs/<job>.py --run-dir <run>; works the same against local[*] or a cluster."""

    def __init__(self, *, job: str, run_dir: str, conn_id: str, publish_only: bool = False, **kwargs) -> None:
        kwargs["conn_id"] = conn_id  # KGFLOW_SPARK_CONN_ID, from the DAG file
        kwargs.setdefault("name", f"kgflow-{job}")
        kwargs.setdefault("conf", {**SPARK_CONF, "spark.driver.extraJavaOptions": " ".join((
            f"-Dlog4j2.configurationFile=file:{SPARK_LOG4J}", *DRIVER_JVM_FLAGS))})
        super().__init__(application=str(SPARK_JOBS / f"{job}.py"), application_args=["--run-dir", run_dir],
                         **kwargs)
        self.publish_only = publish_only  # a stage whose output only a publish uses: a dry run skips it

    def _get_hook(self) -> SparkSubmitHook:
        hook = super()._get_hook()
        hook.__class__ = LeveledSparkSubmitHook  # the provider builds it; only how it relays lines differs
        return hook

    def execute(self, context):
        prepare_env(context)
        run = Path(self.application_args[1])
        if self.publish_only and context["params"].get("dry_run"):
            raise skip("dry run: nothing will be published")
        if pending_documents(run) == 0:
            raise skip("nothing to do: no new or changed documents in this run")
        from airflow.sdk import BaseHook

        if (BaseHook.get_connection(self._conn_id).host or "").startswith("local"):
            # driver and executors in this one process tree: keep Spark off the network. A cluster's
            # executors on other hosts must reach the driver, so there Spark picks its own address.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        return super().execute(context)
