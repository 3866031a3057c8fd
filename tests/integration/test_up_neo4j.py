"""`kgflow up --graph neo4j`: a local Neo4j 5.26 beside Airflow standalone for a production-like setup on
one machine, the `neo4j_default` Connection pointing at it, and `kgflow down` stopping both."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kgflow.netutil import free_port, port_free

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    home = tmp_path_factory.mktemp("up-neo4j") / "kg"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW", "KGFLOW_GRAPH"))},
           "KGFLOW_HOME": str(home)}
    ports = {"ui": free_port(), "bolt": free_port()}
    cli = [sys.executable, "-m", "kgflow.cli.app"]
    started = subprocess.run([*cli, "up", "--port", str(ports["ui"]), "--graph", "neo4j",
                              "--neo4j-port", str(ports["bolt"])], env=env, capture_output=True, text=True,
                             timeout=600)
    probe = subprocess.run([sys.executable, "-c", (
        "from kgflow.orchestration.airflow_home import airflow_env; airflow_env()\n"
        "from airflow.providers.neo4j.hooks.neo4j import Neo4jHook\n"
        "h = Neo4jHook('neo4j_default'); d = h.get_conn()\n"
        "print(h.connection.port, d.execute_query('RETURN 1 AS one').records[0]['one'])")],
        env=env, capture_output=True, text=True, timeout=120)
    down = subprocess.run([*cli, "down"], env=env, capture_output=True, text=True, timeout=300)
    return {"started": started, "probe": probe, "down": down, "ports": ports, "home": home}


def test_up_starts_neo4j_and_airflow_and_says_where(up):
    assert up["started"].returncode == 0, up["started"].stdout + up["started"].stderr
    assert f"bolt://127.0.0.1:{up['ports']['bolt']}" in up["started"].stdout
    assert f"http://127.0.0.1:{up['ports']['ui']}" in up["started"].stdout


def test_the_neo4j_default_connection_logs_in_to_the_started_server(up):
    assert up["probe"].stdout.strip().splitlines()[-1].split() == [str(up["ports"]["bolt"]), "1"], \
        up["probe"].stdout[-2000:] + up["probe"].stderr[-2000:]


def test_the_graph_lives_under_the_kgflow_home(up):
    assert (up["home"] / "neo4j" / "data" / "databases" / "neo4j").is_dir()


def test_down_stops_neo4j_and_frees_its_port(up):
    assert "neo4j: stopped" in up["down"].stdout, up["down"].stdout
    assert port_free(up["ports"]["bolt"]) and port_free(up["ports"]["ui"])
