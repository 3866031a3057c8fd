"""Every DAG imports cleanly and follows the project's conventions (retries, failure callback, params)."""

import pytest


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(collect_dags=True)


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}


def test_every_dag_has_retries_and_a_failure_callback(dagbag):
    for dag in dagbag.dags.values():
        assert dag.default_args.get("retries", 0) >= 1, dag.dag_id
        assert dag.default_args.get("on_failure_callback"), dag.dag_id


def test_knowledge_ingest_runs_nightly_without_catchup(dagbag):
    dag = dagbag.dags["knowledge_ingest"]
    assert dag.schedule == "0 2 * * *"
    assert dag.catchup is False


def test_knowledge_ingest_has_typed_params(dagbag):
    params = dagbag.dags["knowledge_ingest"].params
    assert {"source", "full_rebuild", "dry_run", "max_documents"} <= set(params.keys())
    assert params.get_param("full_rebuild").schema["type"] == "boolean"


def test_knowledge_ingest_stages_run_in_order(dagbag):
    dag = dagbag.dags["knowledge_ingest"]
    order = ["discover", "parse_chunk", "extract", "validate", "load_graph", "build_index", "publish"]
    for up, down in zip(order, order[1:], strict=False):
        assert down in dag.get_task(up).downstream_task_ids


def test_embedding_is_a_spark_stage_beside_the_graph_load(dagbag):
    dag = dagbag.dags["knowledge_ingest"]
    assert dag.get_task("embed").upstream_task_ids == {"validate"}
    assert dag.get_task("build_index").upstream_task_ids == {"load_graph", "embed"}


def test_publish_emits_graph_and_index_assets(dagbag):
    outlets = {a.name for a in dagbag.dags["knowledge_ingest"].get_task("publish").outlets}
    assert outlets == {"kgflow_graph", "kgflow_vector_index"}


def test_every_trigger_form_submits_with_its_defaults(dagbag):
    """Optional fields allow null: the Airflow UI marks a field required when its schema type does not."""
    for dag in dagbag.dags.values():
        dag.params.validate()
        for name in dag.params:
            if dag.params[name] in (None, ""):
                assert "null" in (dag.params.get_param(name).schema.get("type") or []), f"{dag.dag_id}.{name}"


def test_model_refresh_runs_weekly_on_a_schedule_the_ui_shows(dagbag):
    assert dagbag.dags["model_refresh"].schedule == "0 3 * * 0"


def test_each_index_publish_triggers_model_refresh(dagbag):
    dag = dagbag.dags["model_refresh_on_publish"]
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["kgflow_vector_index"]
    assert dag.get_task("trigger_model_refresh").trigger_dag_id == "model_refresh"
