"""Great Expectations suites (schemas/expectations/*.json) run over the staged tables of one run.

A suite may reference run-time values: {"$ref": "table.column"} (referential integrity),
{"$setting": "name"} (a kgflow setting), {"$labels": true} (allowed entity labels) and {"$pii": "rule"}
(a PII rule's pattern, so the check and the masking share one regex).

An expectation with "kept_by" checks a bound kgflow itself keeps where the data is made (the module named):
its failure is kgflow's bug, reported as an internal error, never blamed on a document.

Referential integrity is checked on a derived column ("<column> in <table.column>", true or false per
row) rather than by handing Great Expectations the referenced ids as a value set: a run's 25,000 entity
ids in three expectations cost 20 of the task's 26 seconds in GE copying and serialising that list,
and the same rows fail either way.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from kgflow.config import Settings
from kgflow.errors import KgflowError
from kgflow.nlp.pipeline import allowed_labels


class ValidationFailed(KgflowError):
    """A staged table broke its suite: publishing stops, the staged data stays for inspection."""
    status, error_type = 422, "invalid_data"


class BoundBroken(ValidationFailed):
    """kgflow broke a bound it keeps itself (an expectation with "kept_by"): an internal error, with the
    documents and the rule, never a quarantine. `result` is what the task reports (metrics, CLI)."""
    status, error_type = 500, "internal"

    def __init__(self, message: str, rows: list[dict]) -> None:
        super().__init__(message)
        self.rows = rows
        self.result = {"internal_errors": len(rows), "quarantined": 0}


class QuarantineShareExceeded(ValidationFailed):
    """More of the run's new and changed documents were quarantined than KGFLOW_MAX_QUARANTINE_SHARE allows:
    the run stops before it loads anything."""

    def __init__(self, message: str, quarantined: int, pending: int) -> None:
        super().__init__(message)
        self.result = {"quarantined": quarantined, "pending": pending}


def _resolve(value: Any, settings: Settings) -> Any:
    if isinstance(value, dict):
        if "$setting" in value:
            return getattr(settings, value["$setting"])
        if "$labels" in value:
            return sorted(allowed_labels(settings.glossary_path))
        if "$pii" in value:
            from kgflow.nlp.pii import rule_pattern

            return rule_pattern(value["$pii"])
    return value


def _reference_column(df: pd.DataFrame, column: str, ref: str, tables: dict[str, pd.DataFrame]) -> str:
    """Add '<column> in <ref>' to df: True/False per row, None where the column is null (as GE's
    in-set check skips nulls). Returns the derived column's name."""
    table, ref_column = ref.split(".")
    known = pd.Index(tables[table][ref_column].dropna().unique())
    name = f"{column} in {ref}"
    values = df[column]
    df[name] = pd.Series(values.isin(known), index=df.index, dtype=object).where(values.notna(), None)
    return name


def load_suites(suites_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(suites_dir).glob("*.json"))]


def validate_tables(tables: dict[str, pd.DataFrame], settings: Settings, suites: list[dict] | None = None) -> dict:
    """Run every suite whose table is staged; return a JSON-able report with overall `success`."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    source = ctx.data_sources.add_pandas("kgflow_staging")
    report: dict[str, Any] = {"success": True, "suites": {}}
    for spec in suites if suites is not None else load_suites(settings.expectations_dir):
        table = spec["table"]
        if table not in tables:
            continue
        df = tables[table].copy(deep=False)  # derived columns go on a copy; row positions stay the same
        suite = gx.ExpectationSuite(name=f"kgflow.{table}")
        refs: dict[str, tuple[str, dict]] = {}  # derived column -> (its source column, the suite's kwargs)
        keepers: dict[int, str] = {}  # expectation position -> the module that keeps its bound
        for position, exp in enumerate(spec["expectations"]):
            if exp.get("kept_by"):
                keepers[position] = exp["kept_by"]
            kwargs = dict(exp["kwargs"])
            value_set = kwargs.get("value_set")
            if isinstance(value_set, dict) and "$ref" in value_set:
                derived = _reference_column(df, kwargs["column"], value_set["$ref"], tables)
                refs[derived] = (kwargs["column"], exp["kwargs"])
                kwargs = {**kwargs, "column": derived, "value_set": [True]}
            else:
                kwargs = {k: _resolve(v, settings) for k, v in kwargs.items()}
            suite.add_expectation(ExpectationConfiguration(type=exp["type"], kwargs=kwargs).to_domain_obj())
        batch = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
        failed = []
        for position, r in enumerate(result.results):
            if r.success:
                continue
            kwargs = r.expectation_config.kwargs
            column, written = refs.get(kwargs.get("column"), (kwargs.get("column"), kwargs))
            rows = _row_indices(r.result.get("unexpected_index_list"))
            examples = (df[column].iloc[rows[:3]].tolist() if rows and column in df
                        else (r.result.get("partial_unexpected_list") or [])[:3])
            failed.append({"expectation": r.expectation_config.type, "kwargs": _short(written),
                           "kept_by": keepers.get(position), "unexpected": r.result.get("unexpected_count"),
                           "examples": [str(x)[:120] for x in examples], "rows": rows})
        report["suites"][table] = {"success": bool(result.success), "rows": len(df),
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
