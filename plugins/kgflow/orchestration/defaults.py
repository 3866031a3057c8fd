"""default_args shared by every kgflow DAG: retries and the structured failure callback."""

from datetime import timedelta

from kgflow.orchestration.tasks import on_failure


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(minutes=1)) -> dict:
    return {"owner": "kgflow", "retries": retries, "retry_delay": retry_delay, "on_failure_callback": on_failure}
