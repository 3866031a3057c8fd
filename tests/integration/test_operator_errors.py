"""What an operator sees when something is wrong, with real processes (the `kgflow` CLI, the real DAG through
Airflow's dag.test, the gateway's launcher): a bad setting is one line naming the variable, its value and what
is allowed, found when settings load and before anything starts; a permanent failure fails its task at once
with its reason on the terminal, not after Airflow's retries; a run whose work was skipped says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgflow.netutil import free_port, port_free

pytestmark = pytest.mark.slow
KGFLOW = str(Path(sys.executable).parent / "kgflow")


def _kgflow(home: Path, *args: str, timeout: float = 600, **env: str) -> tuple[int, list[str], float]:
    """(exit status, non-empty output lines, seconds) of `kgflow ARGS` run from another working directory."""
    started = time.monotonic()
    r = subprocess.run([KGFLOW, *args], cwd=home.parent, capture_output=True, text=True, timeout=timeout,
                       env={**{k: v for k, v in os.environ.items() if not k.startswith(("KGFLOW_", "AIRFLOW"))},
                            "KGFLOW_HOME": str(home), "COLUMNS": "400", **env})
    return r.returncode, [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()], time.monotonic() - started


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("KGFLOW_RETRIEVAL_MODE", "hybird", "did you mean 'hybrid'?"),
    ("KGFLOW_GRAPH_BACKEND", "neo4", "did you mean 'neo4j'?"),
    ("KGFLOW_LLM_MODEL_KIND", "chta", "did you mean 'chat'?"),
    ("KGFLOW_PUBLIC_DEPARTMENTS", "public", """KGFLOW_PUBLIC_DEPARTMENTS='["public"]'"""),
    ("KGFLOW_CHUNK_MAX_CHARS", "many", "valid integer"),
])
def test_a_bad_setting_is_one_line_naming_the_variable_its_value_and_what_is_allowed(tmp_path, variable, value,
                                                                                     says):
    rc, lines, _ = _kgflow(tmp_path / "home", "status", **{variable: value})
    assert rc == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {variable}={value!r}: ") and says in lines[0]


def test_serve_refuses_a_bad_setting_before_it_starts_anything(tmp_path):
    home, port = tmp_path / "home", free_port()
    rc, lines, seconds = _kgflow(home, "serve", "--background", "--port", str(port), "--workers", "2",
                                 timeout=120, KGFLOW_RETRIEVAL_MODE="hybird")
    assert rc == 1 and len(lines) == 1 and "KGFLOW_RETRIEVAL_MODE='hybird'" in lines[0]
    assert seconds < 30 and port_free(port) and not list((home / "run").glob("*.pid"))


def test_a_gateway_worker_that_cannot_start_stops_the_server_instead_of_being_restarted(tmp_path):
    """Before: uvicorn's supervisor restarted a worker that failed at startup (32 times in 3 min 7 s) until
    the launcher gave up, and left the processes running."""
    home, port = tmp_path / "home", free_port()
    (home / "audit" / "gateway_audit.db").mkdir(parents=True)  # settings are fine; the audit DB cannot open
    rc, lines, seconds = _kgflow(home, "serve", "--background", "--port", str(port), "--workers", "2",
                                 timeout=240, KGFLOW_LLM_URL="http://127.0.0.1:9")
    assert rc == 1 and len(lines) == 1 and seconds < 60, (seconds, lines)
    assert "gateway worker could not start (error: unable to open database file)" in lines[0], lines
    boots = (home / "logs" / "gateway.log").read_text().count("gateway worker could not start")
    assert 1 <= boots <= 2 * 2, boots  # each worker at most about once: no restart loop
    assert port_free(port) and not list((home / "run").glob("*.pid"))


def _one_file_share(tmp_path: Path) -> Path:
    share = tmp_path / "share" / "ops"
    share.mkdir(parents=True)
    (share / "memo.txt").write_text("Maria Lindqvist leads Project Falcon.\n")
    return share.parent


def _small_share(tmp_path: Path) -> Path:
    """Six memos and one file that is not what its name says (quarantined: 1 of 7, under the 20% bound)."""
    share = tmp_path / "share" / "ops"
    share.mkdir(parents=True)
    for i, who in enumerate(["Maria Lindqvist", "David Okafor", "Sarah Chen", "Tomas Berg", "Ana Ruiz", "Li Wei"]):
        (share / f"memo_{i}.txt").write_text(f"{who} leads Project Falcon {i}.\n")
    (share / "scan.pdf").write_text("this is plain text, not a PDF")
    return share.parent


def test_a_source_that_does_not_exist_fails_the_run_at_once_with_its_reason(tmp_path):
    """Before: discover was retried twice, 60 s apart, and the reason was only in the run's log (139 s)."""
    sources = json.dumps([{"name": "share", "url": str(tmp_path / "missing")}])
    rc, lines, seconds = _kgflow(tmp_path / "home", "ingest", KGFLOW_SOURCES=sources)
    assert rc != 0 and seconds < 90, (seconds, lines[-5:])
    assert any(ln.startswith("discover failed:") and "does not exist" in ln for ln in lines), lines[-5:]


def test_a_run_with_a_param_the_dag_does_not_have_is_refused_naming_the_closest(tmp_path):
    home = tmp_path / "home"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("KGFLOW_", "AIRFLOW"))},
           "KGFLOW_HOME": str(home),
           "KGFLOW_SOURCES": json.dumps([{"name": "share", "url": str(_one_file_share(tmp_path))}])}
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "kgflow.orchestration.run_dag", "knowledge_ingest",
                        json.dumps({"dryrun": True})], capture_output=True, text=True, env=env, timeout=600)
    from kgflow.orchestration.tasks import last_failure

    failure = last_failure(home, "knowledge_ingest")
    assert r.returncode != 0 and time.monotonic() - started < 90
    assert failure["task_id"] == "discover" and "unknown param 'dryrun' (did you mean 'dry_run'?)" in failure["error"]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[Path, str, Path]:
    """A home whose small share `kgflow ingest` has published: (home, KGFLOW_SOURCES, the run's log)."""
    tmp = tmp_path_factory.mktemp("ingested")
    home, sources = tmp / "home", json.dumps([{"name": "share", "url": str(_small_share(tmp))}])
    rc, lines, _ = _kgflow(home, "ingest", KGFLOW_SOURCES=sources)
    assert rc == 0 and lines[-1].startswith("done (log: "), lines[-8:]
    return home, sources, Path(lines[-1].removeprefix("done (log: ").rstrip(")"))


def test_a_run_with_nothing_new_says_why_each_stage_skipped(ingested):
    home, sources, _ = ingested
    rc, lines, _ = _kgflow(home, "ingest", KGFLOW_SOURCES=sources)
    assert rc == 0 and lines[-1].startswith("nothing to do: no new, changed or deleted documents"), lines[-6:]
    log = Path(lines[-1].rsplit("(log: ", 1)[1].rstrip(")"))
    skips = [ln for ln in log.read_text().splitlines() if "skipped: nothing to do" in ln]
    stages = ("parse_chunk", "extract", "load_graph", "embed", "build_index", "publish")
    assert [t for t in stages if not any(f"task_id={t}" in ln for ln in skips)] == []


def test_everything_a_run_writes_under_the_home_is_its_owner_s_alone(ingested):
    """Before: run logs (every document's URI, quarantine details) 0644 in a 0755 home."""
    home, _, _ = ingested
    opened = [f"{p.relative_to(home)} {p.stat().st_mode & 0o777:o}" for p in [home, *home.rglob("*")]
              if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert opened == []


def test_status_shows_each_dag_s_last_run_and_what_it_did_as_a_table_and_as_json(ingested):
    home, sources, _ = ingested
    rc, lines, _ = _kgflow(home, "status", "--json", KGFLOW_SOURCES=sources)
    status = json.loads("\n".join(lines))
    run = next(r for r in status["last_runs"] if r["dag_id"] == "knowledge_ingest")
    assert rc == 0 and run["state"] == "success" and run["seconds"] > 0
    assert status["graph"]["documents"] == 6 and status["index_version"]
    rc, lines, _ = _kgflow(home, "status", KGFLOW_SOURCES=sources)
    row = next(ln for ln in lines if "knowledge_ingest" in ln)
    assert rc == 0 and "success" in row and run["started"] in row


def _health(port: int) -> int | None:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code
    except httpx.HTTPError:
        return None


@pytest.fixture()
def serving(knowledge_base, tmp_path):
    """A gateway of its own home (the sample knowledge base's index and graph, copied), started in the
    background by `kgflow serve`; `kgflow down` afterwards whatever the test left."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(knowledge_base, home, ignore=shutil.ignore_patterns("run", "logs", "airflow", "audit"))
    port = free_port()
    rc, lines, _ = _kgflow(home, "serve", "--background", "--port", str(port), "--workers", "1", timeout=300)
    assert rc == 0, lines
    yield home, port
    _kgflow(home, "down", timeout=120)


def test_a_second_serve_from_the_same_home_is_refused_and_the_first_keeps_answering(serving):
    """Before: the second run said it started (exit 0), overwrote run/*.pid and left the first one answering."""
    home, port = serving
    pid_file = (home / "run" / "gateway.pid").read_text()
    rc, lines, seconds = _kgflow(home, "serve", "--background", "--port", str(free_port()), "--workers", "1")
    assert rc == 1 and len(lines) == 1 and "already running" in lines[0] and seconds < 30
    assert _health(port) == 200 and (home / "run" / "gateway.pid").read_text() == pid_file


def test_serve_on_a_port_another_program_holds_is_refused_before_it_starts_anything(tmp_path):
    """Before: it waited 183 s, said "did not become healthy" and left its llama.cpp server running."""
    import socket

    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rc, lines, seconds = _kgflow(home, "serve", "--background", "--port", str(taken.getsockname()[1]),
                                     "--workers", "2")
    assert rc == 1 and len(lines) == 1 and "in use" in lines[0] and "--port" in lines[0] and seconds < 30
    assert not list((home / "run").glob("*.pid"))


def test_down_stops_a_service_whose_pid_file_was_lost(serving):
    """Before: `kgflow down` trusted run/: with the pid file gone it said 'not running' while the port answered."""
    home, port = serving
    (home / "run" / "gateway.pid").unlink()
    rc, lines, _ = _kgflow(home, "down", timeout=120)
    assert rc == 0 and any("stopped" in ln for ln in lines), lines
    assert _health(port) is None and port_free(port)


def test_a_quarantine_is_a_warning_line_a_person_can_read_and_library_noise_is_gone(ingested):
    """Before: quarantines were relayed at INFO as JSON cut at the panel's width; every task printed faiss's
    AVX512 probing and pathspec's GitWildMatch deprecation."""
    _, _, log = ingested
    text = log.read_text()
    line = next(ln for ln in text.splitlines() if "document quarantined" in ln)
    assert "[warning" in line and "reason=mislabeled" in line and "scan.pdf" in line and '{"' not in line
    assert "swigfaiss" not in text and "GitWildMatch" not in text
    done = next(ln for ln in text.splitlines() if "job done" in ln and "job=kgflow-parse_chunk" in ln)
    assert "documents=6" in done and "quarantined=1" in done and '{"' not in done  # a job's counts too


def test_the_gateway_page_s_curl_and_python_examples_answer_as_written(serving, tmp_path):
    """The docs' examples, run as a reader runs them (only the port is the test's own): the token comes the way
    the text says, and the Python one runs from another working directory. Before: `$TOKEN` came from nowhere
    and the Python example read var/secrets/jwt_secret by a relative path."""
    import re

    from kgflow.config import REPO_ROOT

    home, port = serving
    blocks = re.findall(r"```(bash|python)\n(.*?)```", (REPO_ROOT / "docs" / "gateway.md").read_text(), re.S)
    shell = next(code for lang, code in blocks if lang == "bash" and "kgflow token" in code)
    python = next(code for lang, code in blocks if lang == "python" and "Client(" in code)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("KGFLOW_", "AIRFLOW"))},
           "KGFLOW_HOME": str(home)}
    curl = subprocess.run(["bash", "-c", shell.replace("8090", str(port))], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    body = json.loads(curl.stdout)
    client = subprocess.run([sys.executable, "-c", python.replace("8090", str(port))], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert body["generated_text"] and body["kgflow"]["citations"], body
    assert client.returncode == 0 and client.stdout.strip(), client.stderr[-2000:]
    import sqlite3

    with sqlite3.connect(home / "audit" / "gateway_audit.db") as db:  # both asked as the token says: me, api_user
        askers = db.execute("SELECT user, role, status FROM audit WHERE endpoint IN ('/generate', '/')").fetchall()
    assert askers == [("me", "api_user", 200)] * 2, askers
