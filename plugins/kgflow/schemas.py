"""Record schemas of the staged tables, read from schemas/tables.json (data, not code)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pyarrow as pa

from kgflow.config import SCHEMAS_DIR

_ARROW = {"string": pa.string(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64(),
          "list<string>": pa.list_(pa.string()), "list<float>": pa.list_(pa.float32())}


@cache
def load_json(name: str) -> Any:
    return json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))


def columns(table: str) -> dict[str, str]:
    return load_json("tables.json")[table]


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema([(c, _ARROW[t]) for c, t in columns(table).items()])


def empty_frame(table: str):
    return arrow_schema(table).empty_table().to_pandas()
