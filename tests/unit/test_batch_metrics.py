"""What the DAG tasks push: figures from each task's result, and outcome timestamps that a later outcome
does not erase (each outcome is its own Pushgateway group)."""

from kgflow.ops.metrics import task_figures


def test_discover_pushes_documents_by_outcome():
    figs = task_figures("knowledge_ingest", "discover", {"new": 3, "changed": 1, "unchanged": 40, "deleted": 2})
    assert {dict(f.labels)["outcome"]: f.value for f in figs if f.name == "kgflow_ingest_documents"} == {
        "new": 3, "changed": 1, "unchanged": 40, "deleted": 2}


def test_publish_counts_quarantine_by_reason():
    result = {"version": "v1", "index_vectors": 10, "graph": {"chunks": 10},
              "quarantined": [{"reason": "encrypted"}, {"reason": "corrupt"}, {"reason": "corrupt"}]}
    figs = task_figures("knowledge_ingest", "publish", result)
    assert {dict(f.labels)["reason"]: f.value for f in figs if f.name == "kgflow_ingest_quarantined"} == {
        "encrypted": 1, "corrupt": 2}


def test_a_deploy_outcome_is_its_own_group_so_the_next_success_keeps_the_last_rollback():
    [outcome] = [f for f in task_figures("model_deploy", "deploy", {"phases": {}, "rolled_back": True})
                 if f.name == "kgflow_deploy_outcome_timestamp_seconds"]
    assert outcome.group == (("outcome", "rolled_back"),) and outcome.labels == ()


def test_a_dag_without_figures_pushes_only_the_task_outcome():
    assert task_figures("some_other_dag", "t", {"x": 1}) == []


def test_a_validation_that_finds_kgflows_own_bug_pushes_internal_error_documents(monkeypatch):
    from types import SimpleNamespace

    from kgflow.ops import metrics
    from kgflow.quality.validate import BoundBroken

    pushed = []
    monkeypatch.setattr(metrics, "push", lambda url, dag, task, figures: pushed.extend(figures))
    error = BoundBroken("internal error", [{"doc_id": "a"}, {"doc_id": "b"}])
    ti = SimpleNamespace(dag_id="knowledge_ingest", task_id="validate", start_date=None)
    metrics.push_task_metrics({"ti": ti, "exception": error}, url="http://127.0.0.1:9")
    outcomes = {dict(f.labels).get("outcome"): f.value for f in pushed if f.name == "kgflow_ingest_documents"}
    assert outcomes["internal_error"] == 2 and outcomes["quarantined"] == 0


def test_on_neo4j_the_load_rate_comes_from_publish_which_loads_the_graph():
    deferred = list(task_figures("knowledge_ingest", "load_graph", {"loaded_by": "publish", "rows": 900}))
    assert deferred == []  # no figure from a task that loaded nothing (not rows / 0 s)
    published = list(task_figures("knowledge_ingest", "publish", {"graph_load": {"rows": 900, "seconds": 3.0}}))
    rate = next(f for f in published if f.name == "kgflow_stage_rows_per_second")
    assert rate.value == 300 and dict(rate.labels) == {"stage": "load_graph"}
