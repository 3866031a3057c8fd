import json
import logging

import pytest
import structlog

from kgflow.logs import bound, configure


@pytest.fixture(autouse=True)
def _restore_logging():
    """configure() owns the process's root logger: give pytest's handlers back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.contextvars.clear_contextvars()


def test_log_lines_are_json_carrying_the_run_and_document_ids(capsys):
    configure("test")
    with bound(run_id="scheduled__2026-11-24T02:00:00", doc_id="doc_42"):
        logging.getLogger("kgflow.test").warning("document quarantined: %s", "encrypted PDF")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["run_id"] == "scheduled__2026-11-24T02:00:00" and line["doc_id"] == "doc_42"
    assert line["event"] == "document quarantined: encrypted PDF" and line["level"] == "warning"


def test_fields_bound_for_one_document_do_not_leak_into_the_next_line(capsys):
    configure("test")
    with bound(doc_id="doc_1"):
        logging.getLogger("kgflow.test").info("first")
    logging.getLogger("kgflow.test").info("second")
    lines = [json.loads(x) for x in capsys.readouterr().err.strip().splitlines()[-2:]]
    assert lines[0]["doc_id"] == "doc_1" and "doc_id" not in lines[1]
