"""The embedded default's Airflow metadata database: what `kgflow up` writes into it."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_up_writes_the_spark_and_neo4j_connections_where_the_ui_lists_them(kg_home):
    # a process of its own: Airflow reads AIRFLOW_HOME once per process, and this home is new
    code = ("from kgflow.orchestration.airflow_home import airflow_env, ensure_connections; airflow_env(); "
            "print(ensure_connections()); print(ensure_connections()); "
            "from airflow.models import Connection; from airflow.utils.session import create_session; "
            "s = create_session().__enter__(); c = s.query(Connection).filter_by(conn_id='spark_default').one(); "
            "print(c.conn_type, c.host)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0, out.stderr[-2000:]
    assert lines[-3:] == ["['spark_default', 'neo4j_default']", "[]", "spark local[2]"]  # added once, then kept
