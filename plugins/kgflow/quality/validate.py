"""Great Expectations suites (schemas/expectations/*.json) run over the staged tables of one run.

A suite may reference run-time values: {"$ref": "table.column"} (referential integrity),
{"$setting": "name"} (a kgflow setting) and {"$labels": true} (allowed entity labels).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from kgflow.config import get_settings
from kgflow.nlp.pipeline import allowed_labels


class ValidationFailed(Exception):
    """A staged table broke its suite: publishing stops, the staged data stays for inspection."""


def _resolve(value: Any, tables: dict[str, pd.DataFrame]) -> Any:
    if isinstance(value, dict):
        if "$ref" in value:
            table, column = value["$ref"].split(".")
            return sorted(set(tables[table][column].dropna().tolist()))
        if "$setting" in value:
            return getattr(get_settings(), value["$setting"])
        if "$labels" in value:
            return sorted(allowed_labels(get_settings().glossary_path))
    return value


def load_suites(suites_dir: Path | None = None) -> list[dict]:
    suites_dir = suites_dir or get_settings().expectations_dir
    return [json.loads(p.read_text()) for p in sorted(Path(suites_dir).glob("*.json"))]


def validate_tables(tables: dict[str, pd.DataFrame], suites: list[dict] | None = None) -> dict:
    """Run every suite whose table is staged; return a JSON-able report with overall `success`."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    source = ctx.data_sources.add_pandas("kgflow_staging")
    report: dict[str, Any] = {"success": True, "suites": {}}
    for spec in suites if suites is not None else load_suites():
        table = spec["table"]
        if table not in tables:
            continue
        suite = gx.ExpectationSuite(name=f"kgflow.{table}")
        for exp in spec["expectations"]:
            kwargs = {k: _resolve(v, tables) for k, v in exp["kwargs"].items()}
            suite.add_expectation(ExpectationConfiguration(type=exp["type"], kwargs=kwargs).to_domain_obj())
        batch = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": tables[table]})
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
        failed = [
            {"expectation": r.expectation_config.type, "kwargs": _short(r.expectation_config.kwargs),
             "unexpected": r.result.get("unexpected_count"),
             "examples": [str(x)[:120] for x in (r.result.get("partial_unexpected_list") or [])[:3]],
             "rows": _row_indices(r.result.get("unexpected_index_list"))}
            for r in result.results if not r.success
        ]
        report["suites"][table] = {"success": bool(result.success), "rows": len(tables[table]),
                                   "evaluated": len(result.results), "failed": failed}
        report["success"] &= bool(result.success)
    return report


def _row_indices(found) -> list[int] | None:
    """Row positions that broke a row-level expectation; None for a table-level one."""
    if found is None:
        return None
    return [int(x["index"]) if isinstance(x, dict) else int(x) for x in found]


def _short(kwargs: dict) -> dict:
    return {k: (f"<{len(v)} values>" if isinstance(v, list) and len(v) > 10 else v)
            for k, v in kwargs.items() if k != "batch_id"}
