"""Per-document isolation of the staged tables: a document that failed any stage, or whose rows break
a row-level expectation, leaves every table together; the run goes on with the rest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kgflow.schemas import arrow_schema

BY_DOC = ("documents", "chunks", "mentions", "relations")


def drop_documents(tables: dict[str, pd.DataFrame], doc_ids: set[str]) -> dict[str, pd.DataFrame]:
    """The tables without those documents; entities no remaining mention refers to go too."""
    if not doc_ids:
        return tables
    out = dict(tables)
    for name in BY_DOC:
        df = tables[name]
        out[name] = df[~df["doc_id"].isin(doc_ids)].reset_index(drop=True)
    ents = tables["entities"]
    out["entities"] = ents[ents["entity_id"].isin(set(out["mentions"]["entity_id"]))].reset_index(drop=True)
    return out


def documents_of_rows(tables: dict[str, pd.DataFrame], table: str, rows: list[int]) -> set[str]:
    """Which documents own the given row positions of a staged table."""
    df = tables[table].iloc[[r for r in rows if 0 <= r < len(tables[table])]]
    if "doc_id" in df.columns:
        return set(df["doc_id"].dropna())
    if table == "entities":
        mentions = tables["mentions"]
        return set(mentions.loc[mentions["entity_id"].isin(set(df["entity_id"])), "doc_id"])
    return set()


def quarantine_rows(changes: pd.DataFrame, reasons: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    """Quarantine table rows for doc_id -> (reason, detail, stage), with uri and sha256 from the changes."""
    known = changes.set_index("doc_id")
    rows = [{"doc_id": d, "uri": known["uri"].get(d), "sha256": known["sha256"].get(d), "reason": r,
             "detail": detail, "stage": stage} for d, (r, detail, stage) in reasons.items()]
    return pd.DataFrame(rows, columns=arrow_schema("quarantine").names)


def write_table(run: Path, name: str, df: pd.DataFrame) -> None:
    """Replace a staged table (a directory of parts, as Spark writes it) atomically."""
    final = run / name
    tmp = run / f".{name}.tmp"
    if tmp.exists():
        _remove(tmp)
    tmp.mkdir(mode=0o700)
    table = pa.Table.from_pandas(df.reset_index(drop=True), schema=arrow_schema(name), preserve_index=False)
    pq.write_table(table, tmp / "part-00000.parquet")
    old = run / f".{name}.old"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        _remove(old)


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path) if path.is_dir() else path.unlink()
