"""model_refresh: off-peak LoRA fine-tune from the knowledge base, gated against the live model. Wiring only."""

from datetime import timedelta

from airflow.sdk import Param, task

from kgflow.orchestration import model_tasks
from kgflow.orchestration.assets import MODEL_REGISTRY
from kgflow.orchestration.defaults import kgflow_dag

with kgflow_dag(
    "model_refresh", "model", retries=1, retry_delay=timedelta(minutes=5),
    description="Training set from graph + chunks -> LoRA -> eval gate vs live -> registry",
    # Sundays 03:00 (off-peak); model_refresh_on_publish also triggers it after each index publish, and the
    # first task skips a run without enough new content
    schedule="0 3 * * 0",
    params={
        "base_model": Param("gemma3-270m", type="string", description="Base model name (weights from config)"),
        "steps": Param(20, type="integer", minimum=1, description="Training steps"),
        "learning_rate": Param(2e-4, type="number", exclusiveMinimum=0, description="AdamW learning rate"),
        "lora_rank": Param(8, type="integer", minimum=1, maximum=256, description="LoRA rank (alpha = 2 x rank)"),
        "dry_run": Param(False, type="boolean", description="Train and evaluate, register nothing"),
    },
) as dag:
    check = task(task_id="check_new_content", retries=0)(model_tasks.check_new_content)()
    dataset = task(task_id="build_dataset")(model_tasks.build_dataset)()
    train = task(task_id="train")(model_tasks.train)()
    export = task(task_id="export_gguf")(model_tasks.export)()
    gate = task(task_id="evaluate", retries=0)(model_tasks.evaluate)()
    register = task(task_id="register", retries=0, outlets=[MODEL_REGISTRY])(model_tasks.register)()

    check >> dataset >> train >> export >> gate >> register
