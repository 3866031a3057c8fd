"""Run a DAG once, in this process, with the real Airflow machinery: `python -m ... DAG_ID [CONF_JSON]`."""

from __future__ import annotations

import json
import sys

from kgflow.orchestration.airflow_home import airflow_env, ensure_connections, ensure_metadata_db


def test_dag(dag_id: str, conf: dict | None = None):
    """dag.test() on the DAG as the DAG processor parses it; returns the finished DagRun."""
    airflow_env()
    ensure_metadata_db()
    ensure_connections()  # spark_default and neo4j_default, as `kgflow up` writes them
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(collect_dags=True)
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.get_dag(dag_id).test(run_conf=conf or {})


if __name__ == "__main__":
    run = test_dag(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else None)
    print(json.dumps({"dag_id": run.dag_id, "run_id": run.run_id, "state": str(run.state)}))
    sys.exit(0 if str(run.state) == "success" else 1)
