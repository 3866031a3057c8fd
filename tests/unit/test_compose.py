"""The production compose file is valid for each generation-engine profile (docker-compose 1.29's own
validation; Docker itself cannot run here), with the variables .env.example names."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _config(*args: str, profile: str | None = None) -> subprocess.CompletedProcess:
    chosen = ["--profile", profile] if profile else []
    return subprocess.run(["docker-compose", "--env-file", str(REPO / ".env.example"), "-f",
                           str(REPO / "docker-compose.yaml"), *chosen, "config", *args], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"})


pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="scripts/install.sh installs it")


@pytest.mark.parametrize("profile", ["tgi", "vllm"])
def test_the_compose_file_is_valid_with_each_engine_profile(profile):
    r = _config("-q", profile=profile)
    assert r.returncode == 0, r.stderr


def test_each_engine_is_a_profile_and_everything_else_always_starts():
    import yaml

    services = yaml.safe_load(_config(profile="tgi").stdout)["services"]
    profiles = {name: set(svc.get("profiles", [])) for name, svc in services.items()}
    assert profiles["tgi-blue"] == {"tgi"} and profiles["vllm"] == {"vllm"}
    assert profiles["dcgm-exporter"] == {"tgi", "vllm"}  # a GPU exporter wherever a GPU engine runs
    assert not any(profiles[s] for s in ("gateway", "prometheus", "pushgateway", "alertmanager", "grafana"))


def test_every_secret_compose_requires_is_named_in_the_env_example():
    r = subprocess.run(["docker-compose", "-f", str(REPO / "docker-compose.yaml"), "config", "-q"],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert r.returncode != 0  # without them compose refuses to start, naming the first one missing
    assert _config("-q").returncode == 0
