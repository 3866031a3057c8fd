"""Batch metrics: every DAG task pushes what it did to a Prometheus Pushgateway when it ends, the standard
pattern for jobs that are not up to be scraped.

One callback (`push_task_metrics`, wired as each DAG's on_success/on_failure callback in default_args) pushes
for every task of every DAG:

    kgflow_task_duration_seconds{dag,task}
    kgflow_task_last_success_timestamp_seconds{dag,task} / kgflow_task_last_failure_timestamp_seconds{dag,task}

and, from what a task returned, the figures an operator watches (`task_figures`): documents by outcome,
quarantine by reason, rows staged, the published version, refresh gate scores, deploy phases, backups.
Pushes use POST (pushadd): a failure's timestamp does not erase the group's last success. The group is
(job="kgflow", dag, task), so each task's figures replace that task's previous ones and nothing else's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

log = logging.getLogger("kgflow.ops.metrics")

JOB = "kgflow"


@dataclass(frozen=True)
class Figure:
    name: str
    help: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()
    # labels that name a group of their own on the Pushgateway: a push replaces every series of a metric name
    # within its group, so "when did a deploy last roll back" must not live where the next success lands
    group: tuple[tuple[str, str], ...] = ()


def _figures_ingest(task: str, r: dict) -> Iterable[Figure]:
    if task == "discover":
        for outcome in ("new", "changed", "unchanged", "deleted"):
            yield Figure("kgflow_ingest_documents", "Documents in the last ingest run by outcome", r.get(outcome, 0),
                         (("outcome", outcome),))
    elif task == "validate":
        for table in ("documents", "chunks", "entities", "mentions", "relations"):
            if isinstance(r.get(table), int | float):
                yield Figure("kgflow_ingest_rows", "Rows staged by the last ingest run", r[table], (("table", table),))
        yield Figure("kgflow_ingest_documents", "Documents in the last ingest run by outcome", r.get("quarantined", 0),
                     (("outcome", "quarantined"),))
        # kgflow breaking its own bound (chunk cap, masking, entity length) is never a document's quarantine
        yield Figure("kgflow_ingest_documents", "Documents in the last ingest run by outcome",
                     r.get("internal_errors", 0), (("outcome", "internal_error"),))
    elif task == "load_graph" and r.get("seconds"):  # on Neo4j publish loads the graph: its figure is there
        yield Figure("kgflow_stage_rows_per_second", "Rows written per second by a load stage",
                     r.get("rows", 0) / max(r["seconds"], 1e-9), (("stage", "load_graph"),))
    elif task == "publish":
        if (load := r.get("graph_load")) and load.get("seconds"):
            yield Figure("kgflow_stage_rows_per_second", "Rows written per second by a load stage",
                         load.get("rows", 0) / max(load["seconds"], 1e-9), (("stage", "load_graph"),))
        yield Figure("kgflow_kb_published_timestamp_seconds", "When a knowledge-base version was last published",
                     time.time())
        yield Figure("kgflow_kb_index_vectors", "Vectors in the published index", r.get("index_vectors", 0))
        for kind, n in (r.get("graph") or {}).items():
            yield Figure("kgflow_kb_graph_elements", "Nodes and relationships in the published graph", n,
                         (("kind", kind),))
        reasons: dict[str, int] = {}
        for q in r.get("quarantined") or []:
            reasons[q.get("reason") or "unknown"] = reasons.get(q.get("reason") or "unknown", 0) + 1
        for reason, n in reasons.items():
            yield Figure("kgflow_ingest_quarantined", "Documents in quarantine by reason", n, (("reason", reason),))
        yield Figure("kgflow_kb_duplicate_documents", "Published documents recorded as duplicates",
                     len(r.get("duplicates") or {}))
        yield Figure("kgflow_kb_info", "The published knowledge-base version", 1,
                     (("version", str(r.get("version", ""))),))


def _figures_refresh(task: str, r: dict) -> Iterable[Figure]:
    if task == "evaluate":
        yield Figure("kgflow_refresh_gate_passed", "1 when the last candidate passed the gate",
                     float(bool(r.get("passed"))))
        for model in ("candidate", "live"):
            for key, value in (r.get(model) or {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    yield Figure("kgflow_refresh_gate", "The refresh gate's figures for the last candidate and the "
                                 "live model", value, (("model", model), ("metric", key)))
    elif task == "register":
        yield Figure("kgflow_refresh_outcome_timestamp_seconds", "When a refresh last ended with this outcome",
                     time.time(), group=(("outcome", str(r.get("status", "unknown"))),))


def _figures_deploy(task: str, r: dict) -> Iterable[Figure]:
    if task != "deploy":
        return
    for phase, seconds in (r.get("phases") or {}).items():
        yield Figure("kgflow_deploy_phase_seconds", "Seconds per phase of the last blue/green deploy", seconds,
                     (("phase", phase),))
    outcome = "rolled_back" if r.get("rolled_back") else "deployed"
    yield Figure("kgflow_deploy_outcome_timestamp_seconds", "When a deploy last ended with this outcome", time.time(),
                 group=(("outcome", outcome),))


def _figures_backup(task: str, r: dict) -> Iterable[Figure]:
    if task == "backup":
        yield Figure("kgflow_backup_size_bytes", "Size of the last backup archive", r.get("bytes", 0))
        yield Figure("kgflow_backup_duration_seconds", "How long the last backup took", r.get("seconds", 0))
        yield Figure("kgflow_backup_last_success_timestamp_seconds", "When the last backup succeeded", time.time())
        yield Figure("kgflow_backup_pruned", "Archives the last backup's retention deleted", len(r.get("pruned", [])))
    elif task == "restore_drill":
        yield Figure("kgflow_restore_drill_last_success_timestamp_seconds", "When a restore drill last matched",
                     time.time())
        yield Figure("kgflow_restore_duration_seconds", "How long the last restore drill's restore took",
                     r.get("seconds", 0))


FIGURES = {"knowledge_ingest": _figures_ingest, "model_refresh": _figures_refresh, "model_deploy": _figures_deploy,
           "kb_backup": _figures_backup, "kb_restore_drill": _figures_backup}


def task_figures(dag: str, task: str, result: object) -> list[Figure]:
    """The figures a task's return value carries (none for a task or DAG that has none to give)."""
    if not isinstance(result, dict) or dag not in FIGURES:
        return []
    return list(FIGURES[dag](task, result))


def push(url: str, dag: str, task: str, figures: list[Figure], timeout_s: float = 5.0) -> None:
    """One POST per group (dag, task and the figure's own group labels)."""
    groups: dict[tuple, list[Figure]] = {}
    for f in figures:
        groups.setdefault(f.group, []).append(f)
    for group, members in groups.items():
        registry = CollectorRegistry()
        gauges: dict[str, Gauge] = {}
        for f in members:
            names = tuple(k for k, _ in f.labels)
            if f.name not in gauges:
                gauges[f.name] = Gauge(f.name, f.help, names, registry=registry)
            g = gauges[f.name]
            (g.labels(*(v for _, v in f.labels)) if names else g).set(float(f.value))
        pushadd_to_gateway(url, job=JOB, registry=registry, grouping_key={"dag": dag, "task": task, **dict(group)},
                           timeout=timeout_s)


def push_task_metrics(context: dict, url: str | None) -> None:
    """The on_success/on_failure callbacks' body: the task's outcome, duration and figures to the
    Pushgateway at `url` (None: nothing is pushed). Never fails the task: a Pushgateway that is down costs a
    log line, not a run."""
    if not url:
        return
    ti = context.get("ti")
    dag, task = getattr(ti, "dag_id", "unknown"), getattr(ti, "task_id", "unknown")
    failed = context.get("exception") is not None
    now = time.time()
    start = getattr(ti, "start_date", None)
    figures = [Figure("kgflow_task_duration_seconds", "How long the task's last attempt ran",
                      now - start.timestamp() if start else 0.0),
               Figure(f"kgflow_task_last_{'failure' if failed else 'success'}_timestamp_seconds",
                      f"When the task last {'failed' if failed else 'succeeded'}", now)]
    if not failed:
        try:
            figures += task_figures(dag, task, ti.xcom_pull(task_ids=task))
        except Exception as e:  # noqa: BLE001 - a figure we cannot read is a log line, never a failed task
            log.warning("no figures for %s.%s: %s", dag, task, e)
    elif isinstance(getattr(context.get("exception"), "result", None), dict):
        # a failure that carries what it found (an internal error, a quarantine share over its limit)
        figures += task_figures(dag, task, context["exception"].result)
    elif dag == "model_deploy" and task == "deploy" and "rolled back" in str(context.get("exception")):
        figures.append(Figure("kgflow_deploy_outcome_timestamp_seconds", "When a deploy last ended with this outcome",
                              now, group=(("outcome", "rolled_back"),)))
    try:
        push(url, dag, task, figures)
    except OSError as e:
        log.warning("pushgateway %s unreachable: %s", url, e)
