"""Process environment for tasks and spark-submit: offline model loading, the venv's tools on PATH,
the run id on every log line. Connections are Airflow's: env (AIRFLOW_CONN_*), secrets backend, metadata DB."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kgflow.config import offline_env


def prepare_env(context: dict | None = None) -> None:
    """`context`: a task's Airflow context; its run id then rides on every log line the task writes."""
    offline_env()
    if context is not None:
        from kgflow.logs import bind

        ti = context.get("ti")
        bind(run_id=context.get("run_id"), dag_id=getattr(ti, "dag_id", None), task_id=getattr(ti, "task_id", None))
    # Staged tables hold document text: files this task and its spark-submit children write are 0600.
    os.umask(0o077)
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
