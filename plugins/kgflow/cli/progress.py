"""Follow a DAG run from the outside: each stage leaves a file in the run's staging directory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from kgflow.config import get_settings

STAGE_MARKERS = [
    ("discover", "discover.json"),
    ("parse + chunk (Spark)", "quarantine/_SUCCESS"),
    ("extract: NER + relations (Spark)", "relations/_SUCCESS"),
    ("validate (Great Expectations)", "validation.json"),
    ("load graph", "graph_load.json"),
    ("embed + FAISS index", "index.json"),
    ("publish", "publish.json"),
]


def run_dag_with_progress(dag_id: str, conf: dict, console: Console) -> tuple[int, Path | None, Path]:
    """Run the DAG (dag.test in a child process, logs to a file) and print stages as they finish."""
    s = get_settings()
    logs = s.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{dag_id}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    started = time.time()
    cmd = [sys.executable, "-m", "kgflow.orchestration.run_dag", dag_id, json.dumps(conf)]
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        run: Path | None = None
        done: set[str] = set()
        with console.status(f"[bold]{dag_id}[/] running (log: {log_path})") as status:
            while True:
                rc = proc.poll()
                run = run or _newest_run(s.runs_dir, started)
                if run is not None:
                    for name, marker in STAGE_MARKERS:
                        if name not in done and (run / marker).exists():
                            done.add(name)
                            console.print(f"  [green]✓[/] {name} [dim]({time.time() - started:.0f}s)[/]")
                    pending = next((n for n, _ in STAGE_MARKERS if n not in done), None)
                    if pending:
                        status.update(f"[bold]{dag_id}[/]: {pending} …")
                if rc is not None:
                    return rc, run, log_path
                time.sleep(0.5)


def _newest_run(runs_dir: Path, since: float) -> Path | None:
    if not runs_dir.exists():
        return None
    fresh = [p for p in runs_dir.iterdir() if p.is_dir() and p.stat().st_mtime >= since - 1]
    return max(fresh, key=lambda p: p.stat().st_mtime) if fresh else None
