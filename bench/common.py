"""Shared helpers for bench scripts: timing, percentiles, a fixed-width table."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WIKI = Path(os.environ.get("KGFLOW_WIKI_PASSAGES", REPO.parent / "shared" / "corpus" / "wiki_passages.json"))


def use_home(home: Path | None, bench: str) -> Path:
    """KGFLOW_HOME for a bench run (a fresh temporary one unless given); set before kgflow is imported."""
    home = (home or Path(tempfile.mkdtemp(prefix=f"kgflow-bench-{bench}-"))).absolute()
    os.environ["KGFLOW_HOME"] = str(home)
    return home


@contextmanager
def timed(results: dict, key: str):
    start = time.perf_counter()
    yield
    results[key] = time.perf_counter() - start


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header] + [[f"{c:,.2f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    return "\n".join([f"\n== {title} ==", line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
