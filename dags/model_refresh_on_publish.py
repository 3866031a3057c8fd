"""model_refresh_on_publish: after each index publish, ask model_refresh for a run. Wiring only.

model_refresh keeps its weekly cron as its own schedule, shown as such in the UI (an asset-or-time
schedule shows only the asset); this DAG carries the data-aware half. model_refresh runs one at a time,
and its first task skips the run when there is not enough new content."""

from datetime import datetime

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG

from kgflow.orchestration.assets import VECTOR_INDEX
from kgflow.orchestration.defaults import default_args

with DAG(
    dag_id="model_refresh_on_publish",
    description="After each index publish: trigger model_refresh (which checks for enough new content)",
    schedule=[VECTOR_INDEX],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["kgflow", "model"],
    default_args=default_args(),
) as dag:
    TriggerDagRunOperator(task_id="trigger_model_refresh", trigger_dag_id="model_refresh",
                          wait_for_completion=False)
