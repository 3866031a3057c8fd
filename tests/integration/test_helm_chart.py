"""The Helm chart (deploy/helm/kgflow), checked offline as a cluster's admission would: rendered by the
real `helm` (built from the Go module proxy by scripts/install.sh) for every values file kgflow ships, each
object validated strictly against the OpenAPI schemas of the pinned Kubernetes release and the pinned KEDA
and Prometheus-operator CRDs, and the whole render passed through checkov's Kubernetes policies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kgflow.deploy.manifests import CHART, REPO_ROOT, Validator, render

VALUES = sorted((REPO_ROOT / "deploy" / "helm" / "values").glob("*.yaml"))
HELM = str(Path(sys.prefix) / "bin" / "helm")
CHECKOV = Path(sys.prefix) / "share" / "kgflow-tools" / "checkov" / "bin" / "checkov"
GPU_KINDS = ("vllm", "sglang", "tgi", "triton")


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.load()


def _render(*values: Path, **sets: str) -> list[dict]:
    return render([*values, *(_set_file(key, value) for key, value in sets.items())], helm=HELM)


def _set_file(key: str, value: str) -> Path:
    """A values file holding one dotted key (what `--set` does), so renders go through one path."""
    import tempfile

    tree: dict = {}
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = yaml.safe_load(value)
    f = Path(tempfile.mkdtemp()) / "set.yaml"
    f.write_text(yaml.safe_dump(tree))
    return f


def _one(objects: list[dict], kind: str, name_part: str = "") -> dict:
    found = [o for o in objects if o["kind"] == kind and name_part in o["metadata"]["name"]]
    assert len(found) == 1, [o["metadata"]["name"] for o in found]
    return found[0]


def _engine(objects: list[dict]) -> dict:
    return _one(objects, "Deployment", "-engine-")


def test_the_three_deployment_shapes_are_shipped():
    assert {f.stem for f in VALUES} >= {"single-gpu", "multi-gpu-keda", "cpu-llamacpp"}


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_helm_lint_passes_for_every_values_file(values):
    out = subprocess.run([HELM, "lint", "--strict", str(CHART), "--namespace", "kgflow", "--values", str(values)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "0 chart(s) failed" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_every_rendered_object_validates_against_the_pinned_kubernetes_and_crd_schemas(values, validator):
    objects = _render(values)
    assert len(objects) >= 15
    assert [e for o in objects for e in validator.errors(o)] == []


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_every_rendered_object_passes_the_policy_check(values, tmp_path):
    (tmp_path / "chart.yaml").write_text(yaml.safe_dump_all(_render(values)))
    out = subprocess.run([str(CHECKOV), "--config-file", str(CHART.parent / "checkov.yaml"), "-d", str(tmp_path),
                          "-o", "json"], capture_output=True, text=True)
    report = json.loads(out.stdout)
    summary = report["summary"]
    failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert summary["passed"] > 100 and summary["parsing_errors"] == 0 and failed == [], failed


def _secrets_found(folder: Path) -> list[tuple[str, str]]:
    out = subprocess.run([str(CHECKOV), "--framework", "secrets", "--skip-download", "-d", str(folder),
                          "--quiet", "--compact", "-o", "json"], capture_output=True, text=True)
    report = json.loads(out.stdout)
    return [(f["check_id"], f["file_path"]) for f in report.get("results", {}).get("failed_checks", [])]


def test_no_values_file_holds_a_secret():
    assert _secrets_found(CHART.parent) == []


def test_the_secret_scan_finds_a_token_written_into_values(tmp_path):
    (tmp_path / "values.yaml").write_text(yaml.safe_dump({"gateway": {"env": {
        "KGFLOW_JWT_SECRET": "c2VjcmV0LWtleS1mb3ItdGhlLWdhdGV3YXktMDEyMzQ1Njc4OWFiY2RlZg=="}}}))
    assert _secrets_found(tmp_path)


def test_the_schema_check_refuses_a_misspelt_field(validator):
    engine = _engine(_render())
    engine["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert any("imagePullPolicyy" in e for e in validator.errors(engine))


def test_the_crd_check_refuses_a_scaled_object_field_keda_does_not_have(validator):
    scaled = _one(_render(), "ScaledObject")
    scaled["spec"]["maxReplicas"] = 3
    assert any("maxReplicas" in e for e in validator.errors(scaled))


@pytest.mark.parametrize("kind", GPU_KINDS)
def test_each_gpu_engine_gets_gpus_shared_memory_the_model_volume_probes_and_the_adapters(kind):
    engine = _engine(_render(**{"engine.kind": kind}))
    pod = engine["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert volumes["models"]["persistentVolumeClaim"]["readOnly"] is True
    assert {m["mountPath"]: m.get("subPath") for m in c["volumeMounts"]}["/registry"] == "models/registry"
    assert c["startupProbe"]["httpGet"]["path"] == c["readinessProbe"]["httpGet"]["path"]
    assert engine["metadata"]["labels"]["kgflow.io/engine"] == kind


def test_an_unknown_engine_is_refused_with_the_known_ones():
    with pytest.raises(Exception, match="choose vllm, sglang, tgi, triton or llamacpp"):
        _render(**{"engine.kind": "mystery"})


def test_the_cpu_values_run_llamacpp_without_gpus_or_an_autoscaler():
    objects = _render(REPO_ROOT / "deploy/helm/values/cpu-llamacpp.yaml")
    c = _engine(objects)["spec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in c["resources"]["limits"] and c["command"][-1] == "llama_cpp.server"
    assert not [o for o in objects if o["kind"] in ("ScaledObject",) or o["metadata"]["name"].endswith("-engine")
                and o["kind"] == "HorizontalPodAutoscaler"]


def test_keda_scales_the_live_engine_on_the_engines_waiting_requests():
    objects = _render(REPO_ROOT / "deploy/helm/values/multi-gpu-keda.yaml")
    scaled = _one(objects, "ScaledObject")
    trigger = scaled["spec"]["triggers"][0]
    assert scaled["spec"]["scaleTargetRef"]["name"] == _engine(objects)["metadata"]["name"]
    assert trigger["metadata"]["query"].startswith("sum(vllm:num_requests_waiting{")
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 8)
    assert trigger["metricType"] == "AverageValue" and trigger["metadata"]["threshold"] == "8"


def test_the_hpa_switch_scales_on_the_same_metric_through_prometheus_adapter():
    objects = _render(REPO_ROOT / "deploy/helm/values/single-gpu.yaml")
    hpa = _one(objects, "HorizontalPodAutoscaler", "-engine")
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "kgflow_engine_requests_waiting"
    assert not [o for o in objects if o["kind"] == "ScaledObject"]


def test_triton_scales_on_its_pending_requests_and_the_gateway_speaks_its_backend():
    objects = _render(REPO_ROOT / "deploy/helm/values/triton.yaml")
    query = _one(objects, "ScaledObject")["spec"]["triggers"][0]["metadata"]["query"]
    assert query.startswith("sum(nv_inference_pending_request_count{")
    gateway = _one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    assert env["KGFLOW_LLM_BACKEND"] == "triton" and env["KGFLOW_LLM_URL"] == "http://kgflow-engine:9000"


def test_the_gateway_takes_its_secrets_and_tls_from_existing_secrets_never_inline():
    objects = _render()
    assert not [o for o in objects if o["kind"] == "Secret"]
    pod = _one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert not [e for e in c["env"] if "valueFrom" in e or "SECRET" in e["name"] and e["name"] != "KGFLOW_SECRETS_DIR"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"secrets": "kgflow-gateway", "tls": "kgflow-gateway-tls"}
    assert "--ssl-certfile" in c["command"] and c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"


def test_the_gateway_scales_on_cpu_and_requests_in_flight_and_keeps_one_pod_through_disruptions():
    objects = _render()
    hpa = _one(objects, "HorizontalPodAutoscaler", "-gateway")
    assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource", "Pods"}
    assert hpa["spec"]["metrics"][1]["pods"]["metric"]["name"] == "kgflow_in_flight_requests"
    assert _one(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_only_the_gateway_the_deployer_and_prometheus_reach_the_engine():
    policy = _one(_render(), "NetworkPolicy", "-engine")
    sources = policy["spec"]["ingress"][0]["from"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "engine"
    assert [s.get("podSelector", {}).get("matchLabels", s.get("namespaceSelector")) for s in sources] == [
        {"app.kubernetes.io/name": "kgflow", "app.kubernetes.io/instance": "kgflow",
         "app.kubernetes.io/component": "gateway"},
        {"kgflow.io/deployer": "true"},
        {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}]


def test_the_alert_rules_and_dashboards_are_the_ones_in_ops():
    objects = _render()
    rules = yaml.safe_load((REPO_ROOT / "ops/prometheus/alerts.yml").read_text())
    assert _one(objects, "PrometheusRule")["spec"]["groups"] == rules["groups"]
    dashboards = _one(objects, "ConfigMap", "-dashboards")["data"]
    shipped = sorted((REPO_ROOT / "ops/grafana/dashboards").glob("*.json"))
    assert sorted(dashboards) == [f"dashboard-{p.name}" for p in shipped]
    assert all(json.loads(dashboards[f"dashboard-{p.name}"]) == json.loads(p.read_text()) for p in shipped)


def test_the_engine_pods_are_scraped_with_the_label_the_autoscaler_selects():
    objects = _render()
    relabel = _one(objects, "PodMonitor")["spec"]["podMetricsEndpoints"][0]["relabelings"][0]
    assert relabel["targetLabel"] == "kgflow_engine"
    assert f'kgflow_engine="{relabel["replacement"]}"' in _one(objects, "ScaledObject")["spec"]["triggers"][0][
        "metadata"]["query"]


def _platform(name: str) -> dict:
    return yaml.safe_load((CHART.parent / "platform" / name).read_text())


def test_the_airflow_workers_run_as_the_deployer_the_engines_let_in_with_the_shared_home():
    objects = _render()
    airflow = _platform("airflow-values.yaml")["workers"]
    account = _one(objects, "ServiceAccount")["metadata"]["name"]
    engine_sources = _one(objects, "NetworkPolicy", "-engine")["spec"]["ingress"][0]["from"]
    assert airflow["serviceAccount"]["name"] == account
    assert {"podSelector": {"matchLabels": airflow["labels"]}} in engine_sources
    claims = {v["persistentVolumeClaim"]["claimName"] for v in airflow["extraVolumes"] if "persistentVolumeClaim" in v}
    assert _one(objects, "PersistentVolumeClaim", "-home")["metadata"]["name"] in claims


def test_the_airflow_workers_deploy_to_this_chart_through_the_kubernetes_deployer():
    env = {e["name"]: e["value"] for e in _platform("airflow-values.yaml")["env"]}
    engine = _engine(_render())
    assert env["KGFLOW_DEPLOYER"] == "kubernetes" and env["KGFLOW_KUBERNETES_RELEASE"] == "kgflow"
    assert engine["metadata"]["annotations"]["kgflow.io/base-model"] == env["KGFLOW_BASE_MODEL"]
    assert engine["metadata"]["labels"]["kgflow.io/engine"] == env["KGFLOW_KUBERNETES_ENGINE"]


def test_the_workers_account_may_start_spark_executors_and_nothing_cluster_wide():
    objects = _render()
    rules = _one(objects, "Role")["rules"]
    assert {"apiGroups": [""], "resources": ["pods", "configmaps"],
            "verbs": ["create", "delete", "deletecollection"]} in rules
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    spark = (CHART.parent / "platform" / "spark" / "spark-defaults.conf").read_text()
    assert f"serviceAccountName                    {_one(objects, 'ServiceAccount')['metadata']['name']}" in spark
