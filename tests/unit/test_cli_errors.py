"""CLI errors say what to do in a line or two and exit non-zero: no tracebacks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kgflow.cli.app import app
from kgflow.netutil import free_port


@pytest.fixture()
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KGFLOW_HOME", str(tmp_path / "empty"))  # settings are re-read when KGFLOW_* change
    # an Airflow home an earlier test of this process exported would be this one's (as in a new shell, none is)
    for name in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "empty"


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    return result, lines


def test_recall_on_an_empty_home_says_to_ingest_first(empty_home):
    result, lines = _run("recall")
    assert result.exit_code == 1
    assert len(lines) <= 2 and "kgflow ingest" in result.output and "Traceback" not in result.output


def test_status_on_an_empty_home_says_nothing_has_run_and_how_to_start(empty_home):
    result, lines = _run("status")
    assert result.exit_code == 0 and "kgflow ingest" in lines[0] and lines[1].endswith("nothing published yet")


def test_asking_with_no_gateway_running_says_how_to_start_one(empty_home):
    result, lines = _run("ask", "Who leads Project Falcon?", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1 and len(lines) <= 2 and "kgflow serve" in result.output


def test_ingesting_a_source_that_does_not_exist_fails_at_once(empty_home):
    result, lines = _run("ingest", "--source", "/nonexistent/folder")
    assert result.exit_code == 1 and len(lines) <= 2 and "/nonexistent/folder does not exist" in result.output


def test_down_with_nothing_running_says_so(empty_home):
    result, lines = _run("down")
    assert result.exit_code == 0 and len(lines) == 1 and lines[0].startswith("nothing running")


def test_up_a_second_time_refuses_and_names_the_running_airflow(empty_home):
    import os

    run = empty_home / "run"
    run.mkdir(parents=True)
    (run / "airflow.pid").write_text(str(os.getpid()))  # a live process this home recorded as its Airflow
    result, lines = _run("up", "--port", str(free_port()))
    assert result.exit_code == 1 and len(lines) <= 2 and "already running" in result.output


def test_up_on_a_port_in_use_says_to_choose_another(empty_home):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result, lines = _run("up", "--port", str(taken.getsockname()[1]))
    assert result.exit_code == 1 and len(lines) <= 2 and "--port" in result.output


def test_airflow_on_another_port_tells_its_task_runners_that_port_and_listens_on_loopback():
    from kgflow.orchestration.standalone import api_env

    env = api_env(18080)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "18080"


def test_triggering_with_no_airflow_started_says_how_to_start_it(empty_home):
    result, lines = _run("trigger", "knowledge_ingest")
    assert result.exit_code == 1 and len(lines) <= 2 and "kgflow up" in result.output


def test_triggering_an_unreachable_airflow_names_the_address_and_what_to_do(empty_home):
    url = f"http://127.0.0.1:{free_port()}"
    result, lines = _run("trigger", "knowledge_ingest", "--url", url)
    assert result.exit_code == 1 and len(lines) <= 2 and url in result.output and "--url" in result.output


def test_a_conf_that_is_not_json_is_refused_before_anything_is_sent(empty_home):
    result, lines = _run("trigger", "knowledge_ingest", "--conf", "{dry_run: true}")
    assert result.exit_code == 1 and len(lines) <= 2 and "--conf is not JSON" in result.output
