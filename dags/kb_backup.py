"""kb_backup: daily full backup before the nightly ingest, with retention. Wiring only."""

from airflow.sdk import Param, task

from kgflow.orchestration import ops_tasks
from kgflow.orchestration.defaults import kgflow_dag

with kgflow_dag(
    "kb_backup", "operations", retries=1,
    description="Consistent snapshot of graph, index, manifest, model registry and audit log -> one checked archive",
    schedule="30 1 * * *",  # daily, before knowledge_ingest at 02:00
    params={
        "target": Param(None, type=["null", "string"],
                        description="Directory or fsspec URL (s3://bucket/prefix); empty = KGFLOW_BACKUP_TARGET"),
        "retention_days": Param(None, type=["null", "integer"], minimum=1,
                                description="Delete archives older than this; empty = KGFLOW_BACKUP_RETENTION_DAYS"),
    },
) as dag:
    task(task_id="backup")(ops_tasks.backup)()
