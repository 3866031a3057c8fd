"""knowledge_ingest through a real Spark standalone cluster: a master and a worker on loopback, started with
pyspark's own `spark-class`, and spark_default pointing at the master. Nothing in the DAG changes."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from kgflow.config import get_settings
from kgflow.corpus.generator import generate_corpus
from kgflow.graph import open_graph_store
from kgflow.netutil import free_port, wait_http
from kgflow.orchestration.run_dag import test_dag as run_ingest_dag

pytestmark = pytest.mark.slow


def _spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    logs = tmp_path_factory.mktemp("spark-cluster")
    port, ui, worker_ui = free_port(), free_port(), free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(logs / "work")}
    procs = []
    try:
        procs.append(subprocess.Popen(
            [_spark_class(), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
             "--webui-port", str(ui)], env=env, stdout=(logs / "master.log").open("wb"), stderr=subprocess.STDOUT))
        assert wait_http(f"http://127.0.0.1:{ui}/json/", 120, alive=lambda: procs[0].poll() is None)
        procs.append(subprocess.Popen(
            [_spark_class(), "org.apache.spark.deploy.worker.Worker", "--cores", "2", "--memory", "3g",
             "--webui-port", str(worker_ui), f"spark://127.0.0.1:{port}"], env=env,
            stdout=(logs / "worker.log").open("wb"), stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 120
        while not httpx.get(f"http://127.0.0.1:{ui}/json/").json().get("aliveworkers"):
            assert time.monotonic() < deadline and procs[1].poll() is None, (logs / "worker.log").read_text()[-2000:]
            time.sleep(1)
        yield {"master": f"spark://127.0.0.1:{port}", "ui": f"http://127.0.0.1:{ui}", "logs": logs}
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(30)


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
