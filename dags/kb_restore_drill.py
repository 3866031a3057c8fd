"""kb_restore_drill: weekly, restore the latest backup into a scratch home and compare. Wiring only."""

from datetime import datetime

from airflow.sdk import DAG, Param, task

from kgflow.orchestration import ops_tasks
from kgflow.orchestration.defaults import default_args

with DAG(
    dag_id="kb_restore_drill",
    description="Restore the latest backup into a scratch home; its graph and index must match the archive",
    schedule="0 4 * * 6",  # Saturdays, after the night's backup and ingest
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["kgflow", "operations"],
    default_args=default_args(retries=1),
    params={
        "question": Param(None, type=["null", "string"],
                          description="Also retrieve for this question from the restored knowledge base"),
    },
) as dag:
    task(task_id="restore_drill")(ops_tasks.restore_drill)()
