"""Task callables for the operations DAGs (kb_backup, kb_restore_drill): settings built here, work in kgflow.ops."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from kgflow.config import get_settings
from kgflow.ops import backup as ops
from kgflow.orchestration.runtime import kgflow_task, prepare_env


@kgflow_task
def backup(**context) -> dict:
    prepare_env(context)
    p = context["params"]
    s = get_settings()
    if p.get("retention_days") is not None:
        s = s.model_copy(update={"backup_retention_days": int(p["retention_days"])})
    return ops.backup(s, p.get("target") or None)


@kgflow_task
def restore_drill(**context) -> dict:
    """Restore the latest backup into a scratch home, compare, and remove the scratch home."""
    prepare_env(context)
    s = get_settings()
    scratch = Path(tempfile.mkdtemp(prefix="kgflow-drill-", dir=s.home))
    try:
        return ops.drill(s, scratch / "home", context["params"].get("question") or None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
