"""The production stack, run for real on one machine with no Docker: Airflow 3 (api-server, scheduler,
dag-processor, triggerer) with the CeleryExecutor and a Celery worker, PostgreSQL as its metadata database
and Redis as its broker (Debian's binaries), a Spark standalone master and worker, Neo4j 5.26, the
Pushgateway, and the gateway on 2 workers with its rate limits in Redis.

Through Airflow's REST API (`kgflow trigger`) the module runs knowledge_ingest on the sample corpus, then
model_refresh (3 steps) and model_deploy (the local deployer, blue/green behind the gateway), asks the
gateway a question, and finally stops everything. Each test checks one thing a production operator would."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from kgflow.config import Settings
from kgflow.corpus.generator import generate_corpus
from kgflow.etl.cluster import standalone_cluster
from kgflow.graph import open_graph_store
from kgflow.models.refresh import registry
from kgflow.netutil import free_port, port_free, wait_http
from kgflow.orchestration.production import COMPONENTS, ProductionAirflow
from kgflow.tokens import mint_token
from tests.integration.gateway_harness import SECRET
from tests.integration.production_stack import postgres, redis
from tests.integration.prometheus_stack import pushgateway

pytestmark = pytest.mark.slow

AIRFLOW = str(Path(sys.executable).parent / "airflow")
KGFLOW = [sys.executable, "-m", "kgflow.cli.app"]
QUESTION = "Who leads the project that uses Corvane Beacon?"


def _airflow(env: dict, *args: str) -> None:
    subprocess.run([AIRFLOW, *args], env=env, check=True, capture_output=True, timeout=300)


def _trigger(env: dict, dag_id: str, conf: str = "{}") -> subprocess.CompletedProcess:
    return subprocess.run([*KGFLOW, "trigger", dag_id, "--conf", conf, "--url", env["AIRFLOW__API__BASE_URL"],
                           "--unpause"], env=env, capture_output=True, text=True, timeout=1500)


def _healthy(url: str) -> bool:
    try:
        health = httpx.get(f"{url}/api/v2/monitor/health", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    return all(health.get(k, {}).get("status") == "healthy"
               for k in ("metadatabase", "scheduler", "triggerer", "dag_processor"))


@pytest.fixture(scope="module")
def stack(knowledge_base, neo4j_server):
    # PostgreSQL runs as its own user, who must reach its folder: outside pytest's private tmp, and beside the
    # kgflow home, never in it (kgflow keeps its home private: 0700)
    base = Path(tempfile.mkdtemp(prefix="kgflow-prod-"))
    os.chmod(base, 0o755)
    home = base / "home"
    generate_corpus(home / "landing", n_docs=50)  # the corpus of the session's embedded knowledge base
    neo4j_server.empty()
    out: dict = {"home": home, "procs": {}, "started": time.monotonic()}
    with ExitStack() as services:
        database = services.enter_context(postgres(base / "postgres", secrets.token_urlsafe(16)))
        broker = services.enter_context(redis(home / "redis"))
        spark = services.enter_context(standalone_cluster(home / "spark"))
        pushgw = services.enter_context(pushgateway(home))
        airflow = ProductionAirflow(home / "airflow", database, f"{broker}/0", free_port(),
                                    jwt_secret=secrets.token_urlsafe(32), fernet_key=_fernet_key())
        gateway_port = free_port()
        admin_password = secrets.token_urlsafe(12)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}, **airflow.env(),
               "KGFLOW_HOME": str(home), "KGFLOW_GRAPH_BACKEND": "neo4j",
               "AIRFLOW_CONN_NEO4J_DEFAULT": neo4j_server.conn_uri, "AIRFLOW_CONN_SPARK_DEFAULT": spark["master"],
               "SPARK_LOCAL_IP": "127.0.0.1", "KGFLOW_PUSHGATEWAY_URL": pushgw,
               "KGFLOW_JWT_SECRET": SECRET, "KGFLOW_RATE_LIMIT_STORAGE": f"{broker}/1",
               "KGFLOW_GATEWAY_URL": f"http://127.0.0.1:{gateway_port}",
               # a tiny refresh: these tests are about the stack, the refresh has its own
               "KGFLOW_GATE_MAX_QUESTIONS": "3", "KGFLOW_CHECKPOINT_EVERY": "1", "KGFLOW_TRAIN_SEQ_LEN": "192",
               "KGFLOW_SMOKE_MAX_LATENCY_S": "120",
               "KGFLOW_AIRFLOW_USERNAME": "admin", "KGFLOW_AIRFLOW_PASSWORD": admin_password}
        _airflow(env, "db", "migrate")
        _airflow(env, "users", "create", "--role", "Admin", "--username", "admin", "--password", admin_password,
                 "--firstname", "kgflow", "--lastname", "admin", "--email", "admin@example.invalid")
        for name, cmd in COMPONENTS:
            out["procs"][name] = subprocess.Popen(
                [AIRFLOW, *cmd], env=env, stdout=(home / f"{name}.log").open("wb"), stderr=subprocess.STDOUT,
                start_new_session=True)
        url = env["AIRFLOW__API__BASE_URL"]
        assert wait_http(f"{url}/api/v2/monitor/health", 180), "the api-server did not start"
        deadline = time.monotonic() + 180
        while not _healthy(url) and time.monotonic() < deadline:
            time.sleep(2)
        out.update(env=env, pushgateway=pushgw, gateway=f"http://127.0.0.1:{gateway_port}", airflow_url=url,
                   spark=spark, database=database, broker=broker, healthy=_healthy(url))
        out["ingest"] = _trigger(env, "knowledge_ingest")
        serve = subprocess.run([*KGFLOW, "serve", "--background", "--workers", "2", "--port", str(gateway_port)],
                               env=env, capture_output=True, text=True, timeout=300)
        out["serve"] = serve
        out["refresh"] = _trigger(env, "model_refresh", '{"steps": 3, "learning_rate": 0.0005}')
        out["deploy"] = _trigger(env, "model_deploy")
        token = mint_token(SECRET, "production-test", departments=["engineering", "finance"])
        # rate-limit counters live a second: watch Redis's keyspace events on the gateway's database instead
        import redis as redis_client

        watcher = redis_client.Redis.from_url(f"{broker}/1")
        watcher.config_set("notify-keyspace-events", "KA")
        events = watcher.pubsub()
        events.psubscribe("__keyspace@1__:*")
        out["answer"] = httpx.post(f"{out['gateway']}/generate", json={"inputs": QUESTION,
                                                                      "parameters": {"details": True}},
                                   headers={"Authorization": f"Bearer {token}"}, timeout=300)
        out["info"] = httpx.get(f"{out['gateway']}/info", timeout=10).json()
        out["limit_keys"] = set()
        while (message := events.get_message(timeout=1.0)) is not None:
            if message["type"] == "pmessage":
                out["limit_keys"].add(message["channel"].decode().split(":", 1)[1])
        events.close()
        settings = Settings(home=home, graph_backend="neo4j")
        out["registry_live"] = registry(settings).live()
        os.environ["AIRFLOW_CONN_NEO4J_DEFAULT"] = neo4j_server.conn_uri
        with open_graph_store(settings, read_only=True) as g:
            out["counts"] = g.counts()
        out["metrics"] = httpx.get(f"{pushgw}/api/v1/metrics", timeout=10).json()["data"]
        out["ready_s"] = time.monotonic() - out["started"]
        yield out
        _stop(out)  # whatever the stopping test did not stop
    os.environ.pop("AIRFLOW_CONN_NEO4J_DEFAULT", None)
    shutil.rmtree(base, ignore_errors=True)


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _stop(out: dict) -> dict[str, int | None]:
    """`kgflow down` for the gateway and the models it started, then SIGTERM each Airflow component (the
    Celery worker finishes its tasks first, warm shutdown), as an operator's service manager would."""
    from kgflow.deploy.rollout import make_deployer

    env = out["env"]
    out["down"] = subprocess.run([*KGFLOW, "down"], env=env, capture_output=True, text=True, timeout=300)
    deployer = make_deployer(Settings(home=Path(env["KGFLOW_HOME"])))
    live = deployer.live()
    if live:
        deployer.stop(live)
    codes = {}
    for name, proc in reversed(list(out["procs"].items())):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            codes[name] = proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            codes[name] = None
    return codes


def test_every_airflow_component_reports_healthy(stack):
    assert stack["healthy"], httpx.get(f"{stack['airflow_url']}/api/v2/monitor/health").text


def test_knowledge_ingest_succeeds_under_the_celery_executor(stack):
    assert stack["ingest"].returncode == 0, stack["ingest"].stdout[-3000:] + stack["ingest"].stderr[-3000:]
    assert "knowledge_ingest run" in stack["ingest"].stdout and ": success" in stack["ingest"].stdout


def test_the_neo4j_graph_holds_what_the_embedded_default_holds_for_the_same_corpus(stack, knowledge_base):
    with open_graph_store(Settings(home=knowledge_base, graph_backend="embedded"), read_only=True) as g:
        assert stack["counts"] == g.counts()


def test_the_spark_stages_ran_on_the_standalone_cluster(stack):
    apps = httpx.get(f"{stack['spark']['ui']}/json/", timeout=10).json()
    names = {a["name"] for a in apps["completedapps"] + apps["activeapps"]}
    assert {"kgflow-parse_chunk", "kgflow-extract"} <= names, names


@pytest.mark.parametrize("task", ["discover", "parse_chunk", "extract", "validate", "load_graph", "embed",
                                  "build_index", "publish"])
def test_the_pushgateway_holds_each_ingest_tasks_metrics(stack, task):
    groups = [m["labels"] for m in stack["metrics"]]
    assert {"dag": "knowledge_ingest", "task": task} in [{k: g.get(k) for k in ("dag", "task")} for g in groups]


def test_model_refresh_and_model_deploy_succeed(stack):
    for run in ("refresh", "deploy"):
        assert stack[run].returncode == 0, stack[run].stdout[-3000:] + stack[run].stderr[-3000:]


def test_the_gateway_answers_with_the_deployed_model_and_cites_the_document_holding_the_fact(stack):
    assert stack["serve"].returncode == 0, stack["serve"].stdout + stack["serve"].stderr
    assert stack["answer"].status_code == 200, stack["answer"].text
    body = stack["answer"].json()
    assert body["generated_text"].startswith("Maria Lindqvist")
    cited = {c["uri"].rsplit("/", 2)[-2] + "/" + c["uri"].rsplit("/", 1)[-1] for c in body["kgflow"]["citations"]}
    assert "engineering/doc_0000.pdf" in cited
    live = stack["registry_live"]
    assert live and stack["info"]["kgflow"]["upstream"] == live["version"]  # the version model_deploy made live


def test_the_gateway_keeps_its_rate_limits_in_redis(stack):
    assert any("LIMITS" in k for k in stack["limit_keys"]), stack["limit_keys"]


def test_everything_stops_cleanly(stack):
    codes = _stop(stack)
    assert stack["down"].returncode == 0, stack["down"].stdout + stack["down"].stderr
    assert codes and all(c == 0 or c == -signal.SIGTERM for c in codes.values()), codes
    port = int(stack["gateway"].rsplit(":", 1)[1])
    assert port_free(port) and port_free(int(stack["airflow_url"].rsplit(":", 1)[1]))
