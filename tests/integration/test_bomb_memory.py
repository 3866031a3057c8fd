"""A 2 MB DOCX that inflates to 2 GiB, parsed the way a Spark parse worker parses it (own process, the
worker's memory bound applied): quarantined, with the process's peak memory measured and under the bound."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgflow.config import Settings
from tests.hostile_corpus import GOOD_TEXT, docx_bomb, docx_bytes

pytestmark = pytest.mark.slow
BOUND_MB = Settings().parse_worker_memory_mb

_WORKER = """
import json, resource, sys
from kgflow.config import offline_env
from kgflow.etl.worker import bound_memory
from kgflow.parse.document import parse_document
from kgflow.parse.sniff import Limits
offline_env()
bound_memory(int(sys.argv[2]))
data = open(sys.argv[1], "rb").read()
p = parse_document(data, "doc.docx", "d", Limits(**json.loads(sys.argv[3])), 1200, 900, 150)
print(json.dumps({"reason": p.quarantine_reason, "chunks": len(p.chunks),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _parse_in_worker(path: Path, limits: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", _WORKER, str(path), str(BOUND_MB), json.dumps(limits or {})],
                         capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{path.name}: {result}")  # the measured figure, in the test log
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bomb")
    (d / "bomb.docx").write_bytes(docx_bomb(2 << 30))
    (d / "good.docx").write_bytes(docx_bytes(GOOD_TEXT * 20))
    return {"bomb": d / "bomb.docx", "good": d / "good.docx"}


def test_the_bomb_is_small_on_disk(files):
    assert files["bomb"].stat().st_size < 4 * 1024 * 1024


def test_a_good_docx_parses_under_the_bound(files):
    r = _parse_in_worker(files["good"])
    assert r["reason"] is None and r["chunks"] >= 1 and r["peak_rss_mb"] < BOUND_MB


def test_a_2_gib_docx_bomb_is_quarantined_with_peak_memory_under_the_bound(files):
    r = _parse_in_worker(files["bomb"])
    assert r["reason"] == "expands_too_large"
    assert r["peak_rss_mb"] < BOUND_MB


def test_the_memory_bound_holds_even_when_the_expansion_checks_are_lifted(files):
    """Defence in depth: with the zip checks off, the parser really inflates, and the bound stops it."""
    r = _parse_in_worker(files["bomb"], {"max_expanded_bytes": 1 << 40, "max_compression_ratio": 1e12})
    assert r["reason"] == "expands_too_large"
    assert r["peak_rss_mb"] < BOUND_MB
