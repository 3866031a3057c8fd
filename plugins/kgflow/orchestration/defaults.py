"""What every kgflow DAG shares: one run at a time, no backfill, the kgflow tags, and default_args (retries,
the structured failure line, batch metrics)."""

from datetime import datetime, timedelta
from typing import Any

from kgflow.ops.metrics import push_task_metrics
from kgflow.orchestration.tasks import on_failure


def _pushed(context) -> None:
    """The task callbacks' entry point: settings are built here and passed on."""
    from kgflow.config import get_settings

    push_task_metrics(context, get_settings().pushgateway_url)


def _failed(context) -> None:
    from kgflow.config import SettingsInvalid, get_settings

    try:
        s = get_settings()
    except SettingsInvalid:  # the task failed on them: its reason is in its log, and nothing else can run
        on_failure(context, None)
        return
    on_failure(context, s.home)
    push_task_metrics(context, s.pushgateway_url)


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(minutes=1)) -> dict:
    return {"owner": "kgflow", "retries": retries, "retry_delay": retry_delay, "on_failure_callback": _failed,
            "on_success_callback": _pushed}


def kgflow_dag(dag_id: str, area: str, *, retries: int = 2, retry_delay: timedelta = timedelta(minutes=1),
               **kwargs: Any):
    """A DAG with kgflow's shared settings; `area` is its second tag (ingest, model, operations)."""
    from airflow.sdk import DAG

    return DAG(dag_id=dag_id, start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=1,
               tags=["kgflow", area], default_args=default_args(retries, retry_delay), **kwargs)
