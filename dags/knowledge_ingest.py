"""knowledge_ingest: nightly, incremental documents -> Spark ETL -> NER -> graph + FAISS. Wiring only."""

from airflow.sdk import Param, task

from kgflow.config import get_settings
from kgflow.orchestration import tasks
from kgflow.orchestration.assets import GRAPH, VECTOR_INDEX
from kgflow.orchestration.defaults import kgflow_dag
from kgflow.orchestration.operators import SparkStageOperator

RUN_DIR = "{{ ti.xcom_pull(task_ids='discover')['run_dir'] }}"
SPARK = get_settings().spark_conn_id  # the Connection spark-submit uses (the provider's hook reads it)

with kgflow_dag(
    "knowledge_ingest", "ingest",
    description="Ingest new/changed documents into the knowledge graph and vector index",
    schedule="0 2 * * *",
    params={
        # optional fields allow null: a string type alone makes the trigger form demand a value
        "source": Param(None, type=["null", "string"],
                        description="Scan only this configured source (its name), or a folder/URL as a source of "
                                    "its own; empty = every configured source. Documents of sources not "
                                    "scanned are never retired"),
        "full_rebuild": Param(False, type="boolean", description="Re-ingest everything and rebuild the index"),
        "dry_run": Param(False, type="boolean", description="Parse, extract and validate only; publish nothing"),
        "max_documents": Param(None, type=["null", "integer"], minimum=0,
                               description="Process at most this many new/changed documents"),
        "max_quarantine_share": Param(None, type=["null", "number"], minimum=0, maximum=1,
                                      description="Fail the run when more than this share of its new and changed "
                                                  "documents is quarantined; empty = KGFLOW_MAX_QUARANTINE_SHARE "
                                                  "(0.2); 1 = never (a first bulk load of a messy share)"),
        "quality_gate": Param(True, type="boolean",
                              description="Block publishing when golden-question answer-recall falls below the "
                                          "live version's; turn off only for a reviewed, deliberate change"),
    },
) as dag:
    discover = task(task_id="discover")(tasks.discover)()
    parse = SparkStageOperator(task_id="parse_chunk", job="parse_chunk", run_dir=RUN_DIR, conn_id=SPARK)
    # none_failed: a stage whose upstream skipped still runs, to say in its own log why it skips too
    extract = SparkStageOperator(task_id="extract", job="extract", run_dir=RUN_DIR, conn_id=SPARK,
                                 trigger_rule="none_failed")
    validate = task(task_id="validate", trigger_rule="none_failed", retries=0)(tasks.validate)()
    load = task(task_id="load_graph")(tasks.load_graph)()
    embed = SparkStageOperator(task_id="embed", job="embed", run_dir=RUN_DIR, conn_id=SPARK,
                               publish_only=True)
    # none_failed: a run that only deletes documents embeds nothing (embed skips) but still retires vectors
    index = task(task_id="build_index", trigger_rule="none_failed")(tasks.build_index)()
    publish = task(task_id="publish", retries=0, trigger_rule="none_failed",
                   outlets=[GRAPH, VECTOR_INDEX])(tasks.publish)()

    discover >> parse >> extract >> validate >> [load, embed] >> index >> publish
