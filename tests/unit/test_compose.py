"""The production compose file is valid for each generation-engine profile (docker-compose 1.29's own
validation; Docker itself cannot run here), with the variables .env.example names."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _config(*args: str, profiles: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    chosen = [flag for p in profiles for flag in ("--profile", p)]
    return subprocess.run(["docker-compose", "--env-file", str(REPO / ".env.example"), "-f",
                           str(REPO / "docker-compose.yaml"), *chosen, "config", *args], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"})


pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="scripts/install.sh installs it")


@pytest.mark.parametrize("profile", ["tgi", "vllm", "triton"])
def test_the_compose_file_is_valid_with_each_engine_profile(profile):
    r = _config("-q", profiles=(profile,))
    assert r.returncode == 0, r.stderr


def test_each_engine_is_a_profile_and_everything_else_always_starts():
    import yaml

    services = yaml.safe_load(_config(profiles=("tgi",)).stdout)["services"]
    profiles = {name: set(svc.get("profiles", [])) for name, svc in services.items()}
    assert profiles["tgi-blue"] == {"tgi"} and profiles["vllm"] == {"vllm"} and profiles["triton"] == {"triton"}
    assert profiles["dcgm-exporter"] == {"tgi", "vllm", "triton"}  # a GPU exporter wherever a GPU engine runs
    assert not any(profiles[s] for s in ("gateway", "prometheus", "pushgateway", "alertmanager", "grafana"))


def test_every_secret_compose_requires_is_named_in_the_env_example():
    r = subprocess.run(["docker-compose", "-f", str(REPO / "docker-compose.yaml"), "config", "-q"],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert r.returncode != 0  # without them compose refuses to start, naming the first one missing
    assert _config("-q").returncode == 0


def _services() -> dict:
    import yaml

    return yaml.safe_load(_config(profiles=("tgi", "vllm", "triton")).stdout)["services"]


def test_every_long_running_service_has_a_health_check():
    missing = [name for name, svc in _services().items() if name != "airflow-init" and "healthcheck" not in svc]
    assert not missing


def test_every_dependency_waits_for_health_or_completion_not_just_a_start():
    started_only = [(name, dep) for name, svc in _services().items()
                    for dep, cond in (svc.get("depends_on") or {}).items()
                    if cond.get("condition") == "service_started"]
    assert not started_only


def test_airflow_components_start_after_the_metadata_database_is_migrated():
    services = _services()
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                 "airflow-worker"):
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name


def test_deploys_reach_the_tls_gateway_over_https_and_verify_it():
    services = _services()
    assert "--ssl-certfile" in " ".join(services["gateway"]["command"])
    worker = services["airflow-worker"]
    assert worker["environment"]["KGFLOW_GATEWAY_URL"].startswith("https://gateway:")
    ca = worker["environment"]["KGFLOW_GATEWAY_CA_FILE"]
    assert ca == "/run/secrets/tls.crt" and any(s.get("source", s) == "tls.crt" for s in worker["secrets"])


def test_production_airflow_uses_fab_users_not_the_simple_auth_manager():
    env = _services()["airflow-apiserver"]["environment"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    assert "users create" in " ".join(_services()["airflow-init"]["command"])


def test_spark_executors_on_other_hosts_can_reach_the_driver():
    assert not any("SPARK_LOCAL_IP" in (svc.get("environment") or {}) for svc in _services().values())


def test_the_image_installs_dependencies_before_the_code_is_copied():
    lines = (REPO / "docker" / "Dockerfile").read_text().splitlines()
    install = next(i for i, ln in enumerate(lines) if "KGFLOW_DEPS_ONLY=1" in ln)
    first_code = next(i for i, ln in enumerate(lines) if ln.startswith("COPY") and "plugins" in ln)
    assert install < first_code
