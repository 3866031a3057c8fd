"""knowledge_ingest through a real Spark standalone cluster: a master and a worker on loopback, started with
pyspark's own `spark-class`, and spark_default pointing at the master. Nothing in the DAG changes."""

from __future__ import annotations

import json

import httpx
import pytest

from kgflow.config import get_settings
from kgflow.corpus.generator import generate_corpus
from kgflow.etl.cluster import standalone_cluster
from kgflow.graph import open_graph_store
from kgflow.orchestration.run_dag import test_dag as run_ingest_dag

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as c:
        yield c


@pytest.fixture(scope="module")
def ingested(cluster, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("cluster-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("KGFLOW_HOME", str(home))
    mp.setenv("KGFLOW_GOLDEN_QUESTIONS", str(home / "no-golden-file.json"))
    # the Airflow convention: an AIRFLOW_CONN_* variable overrides the metadata database's spark_default
    mp.setenv("AIRFLOW_CONN_SPARK_DEFAULT", cluster["master"])
    mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # one host: the driver listens where the worker can reach it
    generate_corpus(home / "landing", n_docs=6, bad_files=False)
    run = run_ingest_dag("knowledge_ingest")
    with open_graph_store(get_settings(), read_only=True) as g:
        counts = g.counts()
    apps = httpx.get(f"{cluster['ui']}/json/").json()
    mp.undo()
    return {"run": run, "counts": counts, "apps": apps}


def test_knowledge_ingest_succeeds_on_a_standalone_cluster(ingested):
    states = {ti.task_id: str(ti.state) for ti in ingested["run"].get_task_instances()}
    assert str(ingested["run"].state) == "success", states
    assert ingested["counts"]["documents"] == 6 and ingested["counts"]["chunks"] > 0


def test_both_spark_stages_ran_as_applications_of_the_cluster(ingested):
    names = [a["name"] for a in ingested["apps"]["completedapps"] + ingested["apps"]["activeapps"]]
    assert {"kgflow-parse_chunk", "kgflow-extract"} <= set(names), json.dumps(names)
