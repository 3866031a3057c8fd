"""One error base: every exception kgflow declares is a KgflowError with an HTTP status and a one-line
message, mapped once by the gateway and once by the CLI."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from typer.testing import CliRunner

import kgflow
from kgflow.errors import KgflowError


def _declared_exceptions() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(kgflow.__path__, "kgflow."):
        module = importlib.import_module(info.name)
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, BaseException) and obj.__module__ == info.name]
    return found


def test_every_exception_kgflow_declares_has_the_one_base():
    declared = _declared_exceptions()
    assert len(declared) >= 20
    assert [e.__qualname__ for e in declared if not issubclass(e, KgflowError)] == []


def test_every_error_carries_a_status_a_client_can_act_on():
    assert all(400 <= e.status < 600 and e.error_type for e in _declared_exceptions())


def test_an_error_without_words_says_what_its_class_means():
    from kgflow.retrieval.types import NoKnowledgeBase

    assert NoKnowledgeBase().message == "Nothing has been published yet."


@pytest.fixture()
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KGFLOW_HOME", str(tmp_path / "empty"))
    return tmp_path / "empty"


def test_the_cli_turns_any_kgflow_error_into_one_line_and_exit_status_1(empty_home, tmp_path):
    from kgflow.cli.app import app

    result = CliRunner().invoke(app, ["restore", str(tmp_path / "no-such-archive.tar.gz"), "--home",
                                      str(tmp_path / "restored")])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) <= 2 and lines[0].startswith("error:")
    assert "Traceback" not in result.output and not isinstance(result.exception, KgflowError)
