"""model_deploy: blue/green redeploy of the inference server for a registered version. Wiring only."""

from airflow.sdk import Param, task

from kgflow.orchestration import model_tasks
from kgflow.orchestration.assets import MODEL_REGISTRY
from kgflow.orchestration.defaults import kgflow_dag

with kgflow_dag(
    "model_deploy", "model", retries=1,
    description="Start the new version beside the live one, smoke-test through the gateway, promote or roll back",
    schedule=[MODEL_REGISTRY],
    params={
        "version": Param(None, type=["null", "string"], description="Registry version; empty = newest candidate"),
        "rollback_to": Param(None, type=["null", "string"],
                             description="Redeploy an earlier live version ('previous' or a version)"),
    },
) as dag:
    task(task_id="deploy", retries=0)(model_tasks.deploy)()
