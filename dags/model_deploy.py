"""model_deploy: blue/green redeploy of the inference server for a registered version. Wiring only."""

from datetime import datetime

from airflow.sdk import DAG, Param, task

from kgflow.orchestration import model_tasks
from kgflow.orchestration.assets import MODEL_REGISTRY
from kgflow.orchestration.defaults import default_args

with DAG(
    dag_id="model_deploy",
    description="Start the new version beside the live one, smoke-test through the gateway, promote or roll back",
    schedule=[MODEL_REGISTRY],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["kgflow", "model"],
    default_args=default_args(retries=1),
    params={
        "version": Param(None, type=["null", "string"], description="Registry version; empty = newest candidate"),
        "rollback_to": Param(None, type=["null", "string"],
                             description="Redeploy an earlier live version ('previous' or a version)"),
    },
) as dag:
    task(task_id="deploy", retries=0)(model_tasks.deploy)()
