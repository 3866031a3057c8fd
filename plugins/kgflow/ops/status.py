"""What an operator asks first: the last run of each DAG (state, when, how long, what it did) and the knowledge
base it left, read from Airflow's metadata database and the runs' staging folders, with no Airflow running."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from kgflow.config import Settings
from kgflow.ingest.staging import read_json, read_table, run_dir


@dataclass
class LastRun:
    dag_id: str
    run_id: str
    state: str | None
    run_type: str | None
    started: str | None
    seconds: float | None
    summary: str  # what it did: changes, chunks published, quarantines (knowledge_ingest); else ""

    def as_dict(self) -> dict:
        return asdict(self)


def metadata_db_url(s: Settings) -> str:
    """Airflow's metadata database, found as Airflow finds it: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN (production),
    else the SQLite file in AIRFLOW_HOME (the embedded default's: <home>/airflow)."""
    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or s.home / "airflow")
    return os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or f"sqlite:///{airflow_home / 'airflow.db'}"


def _when(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def last_runs(s: Settings) -> list[LastRun]:
    """The latest run of every DAG that has run, newest first; empty when Airflow has no database yet."""
    from sqlalchemy import create_engine, text

    url = metadata_db_url(s)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(text(
                "SELECT dag_id, run_id, state, run_type, start_date, end_date FROM dag_run d WHERE id = "
                "(SELECT max(id) FROM dag_run WHERE dag_id = d.dag_id) ORDER BY id DESC")).all()
    finally:
        engine.dispose()
    out = []
    for dag_id, run_id, state, run_type, start, end in rows:
        start, end = _when(start), _when(end)
        out.append(LastRun(dag_id, run_id, state, run_type, start.isoformat(timespec="seconds") if start else None,
                           round((end - start).total_seconds(), 1) if start and end else None,
                           _summary(s, dag_id, run_id)))
    return out


def _summary(s: Settings, dag_id: str, run_id: str) -> str:
    if dag_id != "knowledge_ingest":
        return ""
    run = run_dir(s.runs_dir, run_id)
    disc, pub = read_json(run, "discover.json"), read_json(run, "publish.json")
    if not disc:
        return ""
    changes = ", ".join(f"{disc[k]} {k}" for k in ("new", "changed", "deleted"))
    quarantined = len(read_table(run, "quarantine"))
    if not (disc["new"] or disc["changed"] or disc["deleted"]):
        return "nothing to do: no new, changed or deleted documents"
    published = f"; published {pub['version']}" if pub and pub.get("version") else ""
    return f"{changes}; {quarantined} quarantined{published}"
