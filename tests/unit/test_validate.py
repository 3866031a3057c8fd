"""The Great Expectations suites of schemas/expectations over small staged tables (real GE, no mocks)."""

import pandas as pd

from kgflow.config import Settings
from kgflow.quality.validate import validate_tables

RELATIONS_SUITE = [{"table": "relations", "expectations": [
    {"type": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "src", "value_set": {"$ref": "entities.entity_id"}}}]}]


def _tables(*srcs: str | None) -> dict[str, pd.DataFrame]:
    return {"entities": pd.DataFrame({"entity_id": ["e1", "e2"]}),
            "relations": pd.DataFrame({"rel_id": [f"r{i}" for i in range(len(srcs))], "src": list(srcs)})}


def test_references_to_known_rows_pass():
    report = validate_tables(_tables("e1", "e2", "e1"), Settings(), RELATIONS_SUITE)
    assert report["success"]


def test_a_dangling_reference_fails_naming_its_row_value_and_the_suites_reference():
    report = validate_tables(_tables("e1", "ghost", "e2"), Settings(), RELATIONS_SUITE)
    [failed] = report["suites"]["relations"]["failed"]
    assert not report["success"]
    assert (failed["rows"], failed["examples"], failed["unexpected"]) == ([1], ["ghost"], 1)
    assert failed["kwargs"] == {"column": "src", "value_set": {"$ref": "entities.entity_id"}}


def test_a_null_reference_is_left_to_the_not_null_expectations():
    assert validate_tables(_tables("e1", None), Settings(), RELATIONS_SUITE)["success"]


def test_a_setting_reference_takes_the_settings_passed_in():
    suite = [{"table": "chunks", "expectations": [{"type": "expect_column_value_lengths_to_be_between", "kwargs": {
        "column": "text", "min_value": 1, "max_value": {"$setting": "chunk_max_chars"}}}]}]
    chunks = {"chunks": pd.DataFrame({"text": ["x" * 50]})}
    assert validate_tables(chunks, Settings(chunk_max_chars=100), suite)["success"]
    assert not validate_tables(chunks, Settings(chunk_max_chars=10), suite)["success"]
