"""Per-run staging area: one directory of Parquet tables per DAG run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from kgflow.schemas import arrow_schema, empty_frame


def run_dir(root: Path, run_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_")
    return root / safe


def private_dir(path: Path) -> Path:
    """Staged data holds document text: only the pipeline's own user may read it (0700 all the way)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for p in (path.parent, path):
        p.chmod(0o700)
    return path


def read_table(run: Path, name: str) -> pd.DataFrame:
    """A staged table (Spark writes a directory of parts); empty with the right columns if absent."""
    path = run / name
    if not path.exists():
        return empty_frame(name)
    df = pd.read_parquet(path)
    return df.reindex(columns=arrow_schema(name).names) if len(df.columns) else empty_frame(name)


def write_json(run: Path, name: str, payload: dict) -> Path:
    path = run / name
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def read_json(run: Path, name: str) -> dict:
    path = run / name
    return json.loads(path.read_text()) if path.exists() else {}
