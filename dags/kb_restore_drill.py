"""kb_restore_drill: weekly, restore the latest backup into a scratch home and compare. Wiring only."""

from airflow.sdk import Param, task

from kgflow.orchestration import ops_tasks
from kgflow.orchestration.defaults import kgflow_dag

with kgflow_dag(
    "kb_restore_drill", "operations", retries=1,
    description="Restore the latest backup into a scratch home; its graph and index must match the archive",
    schedule="0 4 * * 6",  # Saturdays, after the night's backup and ingest
    params={
        "question": Param(None, type=["null", "string"],
                          description="Also retrieve for this question from the restored knowledge base"),
    },
) as dag:
    task(task_id="restore_drill")(ops_tasks.restore_drill)()
