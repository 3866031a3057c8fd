"""model_refresh_on_publish: after each index publish, ask model_refresh for a run. Wiring only.

model_refresh keeps its weekly cron as its own schedule, shown as such in the UI (an asset-or-time
schedule shows only the asset); this DAG carries the data-aware half. model_refresh runs one at a time,
and its first task skips the run when there is not enough new content."""

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

from kgflow.orchestration.assets import VECTOR_INDEX
from kgflow.orchestration.defaults import kgflow_dag

with kgflow_dag(
    "model_refresh_on_publish", "model",
    description="After each index publish: trigger model_refresh (which checks for enough new content)",
    schedule=[VECTOR_INDEX],
) as dag:
    TriggerDagRunOperator(task_id="trigger_model_refresh", trigger_dag_id="model_refresh",
                          wait_for_completion=False)
