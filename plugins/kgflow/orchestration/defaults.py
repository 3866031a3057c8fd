"""default_args shared by every kgflow DAG: retries, the structured failure line and batch metrics."""

from datetime import timedelta

from kgflow.ops.metrics import push_task_metrics
from kgflow.orchestration.tasks import on_failure


def _failed(context) -> None:
    on_failure(context)
    push_task_metrics(context)


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(minutes=1)) -> dict:
    return {"owner": "kgflow", "retries": retries, "retry_delay": retry_delay, "on_failure_callback": _failed,
            "on_success_callback": push_task_metrics}
