"""CLI errors say what to do in a line or two and exit non-zero: no tracebacks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kgflow.cli.app import app
from kgflow.netutil import free_port


@pytest.fixture()
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KGFLOW_HOME", str(tmp_path / "empty"))  # settings are re-read when KGFLOW_* change
    return tmp_path / "empty"


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    return result, lines


@pytest.mark.parametrize("command", ["status", "recall"])
def test_a_command_on_an_empty_home_says_to_ingest_first(empty_home, command):
    result, lines = _run(command)
    assert result.exit_code == 1
    assert len(lines) <= 2 and "kgflow ingest" in result.output and "Traceback" not in result.output


def test_asking_with_no_gateway_running_says_how_to_start_one(empty_home):
    result, lines = _run("ask", "Who leads Project Falcon?", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1 and len(lines) <= 2 and "kgflow serve" in result.output


def test_ingesting_a_source_that_does_not_exist_fails_at_once(empty_home):
    result, lines = _run("ingest", "--source", "/nonexistent/folder")
    assert result.exit_code == 1 and len(lines) <= 2 and "/nonexistent/folder does not exist" in result.output


def test_down_with_nothing_running_says_so(empty_home):
    result, lines = _run("down")
    assert result.exit_code == 0 and len(lines) == 1 and lines[0].startswith("nothing running")
