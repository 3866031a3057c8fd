"""Task callables for the DAGs: read params and context, call kgflow.ingest.steps, return small XComs."""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk.exceptions import AirflowSkipException

from kgflow.config import get_settings
from kgflow.ingest import steps
from kgflow.orchestration.runtime import prepare_env

log = logging.getLogger("kgflow.tasks")


def _run(context) -> Path:
    return Path(context["ti"].xcom_pull(task_ids="discover")["run_dir"])


def _skip_unless_work(context) -> Path:
    if context["params"].get("dry_run"):
        raise AirflowSkipException("dry run: staged and validated only, nothing published")
    summary = context["ti"].xcom_pull(task_ids="discover")
    if not (summary["new"] or summary["changed"] or summary["deleted"]):
        raise AirflowSkipException("no changes since the last publish")
    return Path(summary["run_dir"])


def discover(**context) -> dict:
    prepare_env(context)
    p = context["params"]
    return steps.discover(context["run_id"], get_settings(), p.get("source") or None, bool(p.get("full_rebuild")),
                          p.get("max_documents"))


def validate(**context) -> dict:
    prepare_env(context)
    s = get_settings()
    share = context["params"].get("max_quarantine_share")
    if share is not None:  # this run only: e.g. a first bulk load of a share known to hold many bad files
        s = s.model_copy(update={"max_quarantine_share": float(share)})
    return steps.validate(_run(context), s)


def load_graph(**context) -> dict:
    prepare_env(context)
    return steps.load_graph(_skip_unless_work(context), get_settings())


def build_index(**context) -> dict:
    prepare_env(context)
    return steps.build_index(_skip_unless_work(context), get_settings(), bool(context["params"].get("full_rebuild")))


def publish(**context) -> dict:
    prepare_env(context)
    summary = steps.publish(_skip_unless_work(context), context["run_id"], get_settings(),
                            quality_gate=context["params"].get("quality_gate", True) is not False)
    # the asset events say what was published: consumers (model_refresh, the UI's asset view) see the version
    from kgflow.orchestration.assets import GRAPH, VECTOR_INDEX

    extra = {"version": summary["version"], "index_vectors": summary["index_vectors"], **summary["graph"],
             "quarantined": len(summary["quarantined"])}
    for asset in (GRAPH, VECTOR_INDEX):
        context["outlet_events"][asset].extra = extra
    return summary


def on_failure(context) -> None:
    """Default failure callback: one structured line a log shipper or alert rule can match."""
    ti = context.get("ti")
    log.error("kgflow task failed", extra={"dag_id": getattr(ti, "dag_id", None),
                                           "task_id": getattr(ti, "task_id", None),
                                           "run_id": context.get("run_id"),
                                           "error": str(context.get("exception"))[:500]})
