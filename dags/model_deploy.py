"""model_deploy: blue/green redeploy of the inference server for a registered version. Wiring only."""

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from kgflow.orchestration import model_tasks, tasks
from kgflow.orchestration.assets import MODEL_REGISTRY

with DAG(
    dag_id="model_deploy",
    description="Start the new version beside the live one, smoke-test through the gateway, promote or roll back",
    schedule=[MODEL_REGISTRY],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["kgflow", "model"],
    default_args={"owner": "kgflow", "retries": 1, "retry_delay": timedelta(minutes=1),
                  "on_failure_callback": tasks.on_failure},
    params={
        "version": Param("", type="string", description="Registry version; empty = newest candidate"),
        "rollback_to": Param("", type="string",
                             description="Redeploy an earlier live version ('previous' or a version)"),
    },
) as dag:
    task(task_id="deploy", retries=0)(model_tasks.deploy)()
