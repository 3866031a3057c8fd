"""Operations with the real parts: Prometheus and the Pushgateway (Debian packages) scraping a real gateway
(2 uvicorn workers) and the batch figures real DAG runs push. Every dashboard panel's query and every alert
rule's metrics must have data: no panel without data, no alert on a metric nobody exports."""

from __future__ import annotations

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kgflow.corpus.generator import generate_corpus
from kgflow.orchestration.run_dag import test_dag as run_dag
from kgflow.tokens import mint_token
from tests.integration.gateway_harness import SECRET, gateway_processes
from tests.integration.prometheus_stack import fake_dcgm_exporter, prometheus, pushgateway, query

pytestmark = pytest.mark.slow

OPS = Path(__file__).resolve().parents[2] / "ops"
DASHBOARDS = sorted((OPS / "grafana" / "dashboards").glob("*.json"))


def panel_queries() -> list[tuple[str, str, str]]:
    return [(d.stem, p["title"], t["expr"]) for d in DASHBOARDS for p in json.loads(d.read_text())["panels"]
            for t in p["targets"]]


def alert_rules() -> list[dict]:
    import yaml

    return [r for g in yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())["groups"] for r in g["rules"]]


@pytest.fixture(scope="module")
def stack(llama_server, tmp_path_factory):
    """A fresh home ingested by the real DAG, a real refresh, the real gateway on 2 workers, a deploy that
    rolls back and one that succeeds, a backup and a restore drill, all pushing to a real Pushgateway that a
    real Prometheus scrapes with the gateway and a DCGM stand-in."""
    work = tmp_path_factory.mktemp("ops")
    home = work / "home"
    generate_corpus(home / "landing", n_docs=12)
    mp = pytest.MonkeyPatch()
    metrics_dir = work / "gateway-metrics"
    metrics_dir.mkdir()
    with pushgateway(work) as push_url, fake_dcgm_exporter() as dcgm:
        env = {"KGFLOW_HOME": str(home), "KGFLOW_PUSHGATEWAY_URL": push_url, "KGFLOW_JWT_SECRET": SECRET,
               "KGFLOW_LLM_URL": llama_server.url, "KGFLOW_BACKUP_TARGET": str(work / "backups"),
               "KGFLOW_RATE_LIMIT_PER_S": "5", "KGFLOW_RATE_LIMIT_BURST": "5",
               # 11 bad files beside 12 good ones: the quarantine metrics and alert are what is checked here
               "KGFLOW_MAX_QUARANTINE_SHARE": "1.0",
               # the smallest real refresh: one step, one gate question, a prompt-sized sequence
               "KGFLOW_GATE_MAX_QUESTIONS": "1", "KGFLOW_TRAIN_SEQ_LEN": "192",
               # the good deploy's smoke answer takes ~25 s on 2 CPU cores: a bound load cannot cross
               "KGFLOW_SMOKE_MAX_LATENCY_S": "120"}
        for k, v in env.items():
            mp.setenv(k, v)
        assert str(run_dag("knowledge_ingest").state) == "success"
        refreshed = run_dag("model_refresh", {"steps": 1})
        with gateway_processes({**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}, workers=2) as gw:
            mp.setenv("KGFLOW_GATEWAY_URL", gw)
            targets = {"kgflow-gateway": {"targets": [gw.removeprefix("http://")]},
                       "pushgateway": {"targets": [push_url.removeprefix("http://")], "honor_labels": True},
                       "dcgm": {"targets": [dcgm]}}
            with prometheus(work / "prometheus", targets, OPS / "prometheus" / "alerts.yml") as prom:
                headers = {"Authorization": f"Bearer {mint_token(SECRET, 'ops', 'admin')}"}
                def ask(_: int) -> int:
                    return httpx.post(f"{gw}/generate", headers=headers, timeout=120, json={
                        "inputs": "Who leads Project Falcon?", "parameters": {"max_new_tokens": 4}}).status_code

                with ThreadPoolExecutor(24) as pool:  # at once, past each worker's burst of 5: some are limited
                    statuses = list(pool.map(ask, range(24)))
                time.sleep(2)  # the bucket refills before the deploy's smoke test asks through the gateway
                mp.setenv("KGFLOW_SMOKE_MAX_LATENCY_S", "0.001")
                failed = run_dag("model_deploy", {"version": "base"})  # the smoke test fails: rolled back
                mp.setenv("KGFLOW_SMOKE_MAX_LATENCY_S", env["KGFLOW_SMOKE_MAX_LATENCY_S"])
                deployed = run_dag("model_deploy", {"version": "base"})
                backed_up = run_dag("kb_backup")
                drill = run_dag("kb_restore_drill", {"question": "Who leads Project Falcon?"})
                yield {"prometheus": prom, "push": push_url, "gateway": gw, "statuses": statuses, "home": home,
                       "runs": {"refresh": str(refreshed.state), "failed_deploy": str(failed.state),
                                "deploy": str(deployed.state), "backup": str(backed_up.state),
                                "drill": str(drill.state)}}
            from kgflow.deploy.local import LocalDeployer

            live = LocalDeployer(home / "deploy").live()
            if live:
                LocalDeployer(home / "deploy").stop(live)
    mp.undo()


def _eventually(prom: str, expr: str, timeout_s: float = 45) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        result = query(prom, expr)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)


def test_the_dag_runs_behind_the_figures_ran_as_intended(stack):
    assert stack["runs"] == {"refresh": "success", "failed_deploy": "failed", "deploy": "success",
                             "backup": "success", "drill": "success"}
    assert 200 in stack["statuses"] and 429 in stack["statuses"]


@pytest.mark.parametrize(("dashboard", "panel", "expr"), panel_queries())
def test_every_dashboard_panel_query_returns_a_series(stack, dashboard, panel, expr):
    assert _eventually(stack["prometheus"], expr), f"{dashboard} / {panel}: no data for {expr}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_metric_an_alert_rule_reads_is_exported(stack, rule):
    names = set(re.findall(r"\b(kgflow_[a-z_]+|DCGM_[A-Z_]+|up)\b", rule["expr"]))
    assert names
    for name in names:
        job = ', job="kgflow-gateway"' if name == "up" else ""
        assert _eventually(stack["prometheus"], f'{{__name__="{name}"{job}}}'), f"{rule['alert']}: no {name}"


def test_prometheus_loads_every_alert_rule_healthy(stack):
    with httpx.Client() as c:
        groups = c.get(f"{stack['prometheus']}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == len(alert_rules()) and {r["health"] for r in rules} <= {"ok", "unknown"}


def test_the_gateway_reports_every_workers_requests_on_one_scrape(stack):
    sent = len(stack["statuses"])
    got = query(stack["prometheus"], 'sum(kgflow_requests_total{endpoint="/generate"})')
    assert got and float(got[0]["value"][1]) >= sent


def test_a_rolled_back_deploy_is_recorded_for_its_alert(stack):
    got = _eventually(stack["prometheus"], 'kgflow_deploy_outcome_timestamp_seconds{outcome="rolled_back"}')
    assert got and time.time() - float(got[0]["value"][1]) < 3600


def test_the_alert_rules_pass_promtool_check_and_their_unit_tests():
    check = subprocess.run(["promtool", "check", "rules", str(OPS / "prometheus" / "alerts.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], cwd=OPS / "prometheus",
                          capture_output=True, text=True)
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_the_prometheus_and_alertmanager_configs_are_valid():
    prom = subprocess.run(["promtool", "check", "config", str(OPS / "prometheus" / "prometheus.yml")],
                          capture_output=True, text=True)
    assert prom.returncode == 0, prom.stdout + prom.stderr
    am = subprocess.run(["amtool", "check-config", str(OPS / "alertmanager" / "alertmanager.yml")],
                        capture_output=True, text=True)
    assert am.returncode == 0, am.stdout + am.stderr
