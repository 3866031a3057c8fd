"""Embedded-default Airflow: AIRFLOW_HOME under kgflow's home, SQLite metadata, this repo's DAGs.

Call `airflow_env()` before anything imports airflow: Airflow reads its config at import time.
Production sets AIRFLOW__* itself (docker-compose.yaml) and these defaults step aside.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kgflow.config import REPO_ROOT, get_settings
from kgflow.orchestration.runtime import prepare_env


def airflow_env() -> dict[str, str]:
    home = get_settings().home / "airflow"
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        # kgflow is an installed package, not an Airflow plugin: Airflow's plugin folder is its own (empty) one,
        # so no process scans kgflow's modules for plugins (the task SDK would, through an ignore file read
        # with pathspec's deprecated patterns, warning in every task's log)
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",  # standalone would start 32 workers on a 2-core box
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        # kgflow's own processes (CLI, benches) run beside the metadata database, as the scheduler does: outside
        # a task, Airflow 3 reads Connections from it only in this context (else env vars and external backends)
        "_AIRFLOW_PROCESS_CONTEXT": "server",
    }
    for k, v in defaults.items():
        os.environ.setdefault(k, v)
    prepare_env()
    return {k: os.environ[k] for k in defaults}


def ensure_metadata_db() -> Path:
    """`airflow db migrate` once (seconds on SQLite); later calls are a cheap existence check."""
    env = airflow_env()
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / ".kgflow-db-migrated"
    if not marker.exists():
        subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                       stdout=subprocess.DEVNULL, env=os.environ.copy())
        marker.touch()
    return home


def ensure_connections() -> list[str]:
    """Write the Spark and Neo4j connections kgflow uses into the metadata database when they are not there
    yet, so they show (and can be edited) under Admin -> Connections; returns the ids it added. Neo4j's has
    no password: an operator sets it there (or in AIRFLOW_CONN_NEO4J_DEFAULT) before choosing neo4j.
    An AIRFLOW_CONN_* variable or a secrets backend still takes precedence, as Airflow resolves them first."""
    ensure_metadata_db()
    from airflow.models import Connection
    from airflow.utils.session import create_session

    s = get_settings()
    wanted = [Connection(conn_id=s.spark_conn_id, conn_type="spark", host=s.spark_master,
                         description="kgflow: spark-submit master (local[N] or spark://host:7077)"),
              Connection(conn_id=s.neo4j_conn_id, conn_type="neo4j", host="127.0.0.1", port=7687, login="neo4j",
                         description="kgflow: the Neo4j server used when KGFLOW_GRAPH_BACKEND=neo4j "
                                     "(set its password; extras as the Neo4j provider reads them)")]
    added = []
    with create_session() as session:
        for conn in wanted:
            if session.query(Connection).filter(Connection.conn_id == conn.conn_id).first() is None:
                session.add(conn)
                added.append(conn.conn_id)
    return added
