"""Task callables for the DAGs: read params and context, call kgflow.ingest.steps, return small XComs."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from kgflow.config import get_settings
from kgflow.fsutil import atomic_write_text
from kgflow.ingest import steps
from kgflow.orchestration.runtime import kgflow_task, prepare_env, skip

log = logging.getLogger("kgflow.tasks")


def _run(context) -> Path:
    return Path(context["ti"].xcom_pull(task_ids="discover")["run_dir"])


def _skip_unless_work(context) -> Path:
    if context["params"].get("dry_run"):
        raise skip("dry run: staged and validated only, nothing published")
    summary = context["ti"].xcom_pull(task_ids="discover")
    if not (summary["new"] or summary["changed"] or summary["deleted"]):
        raise skip("nothing to do: no new, changed or deleted documents since the last publish"
                   + (f" (source {summary['source']})" if summary.get("source") else ""))
    return Path(summary["run_dir"])


@kgflow_task
def discover(**context) -> dict:
    prepare_env(context)
    p = context["params"]
    return steps.discover(context["run_id"], get_settings(), p.get("source") or None, bool(p.get("full_rebuild")),
                          p.get("max_documents"))


@kgflow_task
def validate(**context) -> dict:
    prepare_env(context)
    s = get_settings()
    share = context["params"].get("max_quarantine_share")
    if share is not None:  # this run only: e.g. a first bulk load of a share known to hold many bad files
        s = s.model_copy(update={"max_quarantine_share": float(share)})
    return steps.validate(_run(context), s)


@kgflow_task
def load_graph(**context) -> dict:
    prepare_env(context)
    return steps.load_graph(_skip_unless_work(context), get_settings())


@kgflow_task
def build_index(**context) -> dict:
    prepare_env(context)
    return steps.build_index(_skip_unless_work(context), get_settings(), bool(context["params"].get("full_rebuild")))


@kgflow_task
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


def on_failure(context, home: Path | None) -> None:
    """Default failure callback: one structured line a log shipper or alert rule can match, and the reason
    recorded in <home>/run/failures/<dag_id>.json, where `kgflow ingest` and `kgflow trigger` read it."""
    ti = context.get("ti")
    failure = {"dag_id": getattr(ti, "dag_id", None), "task_id": getattr(ti, "task_id", None),
               "run_id": context.get("run_id"), "error": str(context.get("exception"))[:500], "at": time.time()}
    log.error("kgflow task failed", extra={k: v for k, v in failure.items() if k != "at"})
    if home is not None and failure["dag_id"]:
        record_failure(home, failure)


def record_failure(home: Path, failure: dict) -> None:
    folder = home / "run" / "failures"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(folder / f"{failure['dag_id']}.json", json.dumps(failure))


def last_failure(home: Path, dag_id: str, since: float = 0.0, run_id: str | None = None) -> dict | None:
    """The latest failed task of a DAG recorded since `since` (of `run_id`, when given): its task and reason."""
    f = home / "run" / "failures" / f"{dag_id}.json"
    try:
        failure = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    if failure.get("at", 0) < since or (run_id is not None and failure.get("run_id") != run_id):
        return None
    return failure
