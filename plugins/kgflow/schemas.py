"""Record schemas of the staged tables, read from schemas/tables.json (data, not code), as Arrow schemas and as
Spark DDL. A column type is a base type, `list<T>`, or `list<table>`: a list of records of another table."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pyarrow as pa

from kgflow.config import SCHEMAS_DIR

_ARROW = {"string": pa.string(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64(), "float": pa.float32()}
_SPARK = {"string": "STRING", "int": "INT", "long": "BIGINT", "double": "DOUBLE", "float": "FLOAT"}


@cache
def load_json(name: str) -> Any:
    return json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))


def columns(table: str) -> dict[str, str]:
    return load_json("tables.json")[table]


def _inner(t: str) -> str | None:
    return t[5:-1] if t.startswith("list<") and t.endswith(">") else None


def _arrow_type(t: str) -> pa.DataType:
    if (inner := _inner(t)) is None:
        return _ARROW[t]
    return pa.list_(_ARROW[inner] if inner in _ARROW else pa.struct(list(arrow_schema(inner))))


def _spark_type(t: str) -> str:
    if (inner := _inner(t)) is None:
        return _SPARK[t]
    if inner in _SPARK:
        return f"ARRAY<{_SPARK[inner]}>"
    return "ARRAY<STRUCT<" + ", ".join(f"{c}: {_spark_type(ct)}" for c, ct in columns(inner).items()) + ">>"


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema([(c, _arrow_type(t)) for c, t in columns(table).items()])


def spark_ddl(table: str) -> str:
    """The table's columns as Spark's DDL ("doc_id STRING, acl ARRAY<STRING>, ...")."""
    return ", ".join(f"{c} {_spark_type(t)}" for c, t in columns(table).items())


def empty_frame(table: str):
    return arrow_schema(table).empty_table().to_pandas()
