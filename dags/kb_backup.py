"""kb_backup: daily full backup before the nightly ingest, with retention. Wiring only."""

from datetime import datetime

from airflow.sdk import DAG, Param, task

from kgflow.orchestration import ops_tasks
from kgflow.orchestration.defaults import default_args

with DAG(
    dag_id="kb_backup",
    description="Consistent snapshot of graph, index, manifest, model registry and audit log -> one checked archive",
    schedule="30 1 * * *",  # daily, before knowledge_ingest at 02:00
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["kgflow", "operations"],
    default_args=default_args(retries=1),
    params={
        "target": Param(None, type=["null", "string"],
                        description="Directory or fsspec URL (s3://bucket/prefix); empty = KGFLOW_BACKUP_TARGET"),
        "retention_days": Param(None, type=["null", "integer"], minimum=1,
                                description="Delete archives older than this; empty = KGFLOW_BACKUP_RETENTION_DAYS"),
    },
) as dag:
    task(task_id="backup")(ops_tasks.backup)()
