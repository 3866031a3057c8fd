"""Backup and restore of a real knowledge base: archive size, backup time, verify-and-restore time, against
a plain `tar czf` of the same directories in the same run (the baseline: no consistency, no checksums).

    .venv/bin/python bench/ingest_bench.py --docs 1000 --home var/bench/ingest1000   # a knowledge base
    .venv/bin/python bench/backup_bench.py --home var/bench/ingest1000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import table, use_home  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True, help="a KGFLOW_HOME with a published knowledge base")
    args = ap.parse_args()
    home = use_home(args.home, "backup")
    from kgflow.config import get_settings
    from kgflow.graph import open_graph_store
    from kgflow.ops.backup import backup, restore

    s = get_settings()
    with tempfile.TemporaryDirectory(prefix="kgflow-backup-bench-") as tmp:
        t0 = time.perf_counter()
        plain = Path(tmp) / "plain.tar.gz"
        present = [d for d in ("graph", "index", "state", "models", "audit") if (home / d).exists()]
        subprocess.run(["tar", "czf", str(plain), "-C", str(home), *present], check=True)
        plain_s = time.perf_counter() - t0
        b = backup(s, str(Path(tmp) / "target"))
        r = restore(b["archive"], Path(tmp) / "restored")
        with open_graph_store(s, read_only=True) as g:
            live = g.counts()
        with open_graph_store(s.model_copy(update={"home": Path(tmp) / "restored"}), read_only=True) as g:
            back = g.counts()
        print(f"\nknowledge base: {b['index_vectors']:,} vectors, graph {live}; restored graph identical: "
              f"{back == live}")
        print(table("backup and restore (same home, same run)", ["step", "seconds", "archive MB"],
                    [["plain tar czf of the same directories (baseline)", plain_s, plain.stat().st_size / 1e6],
                     ["kgflow backup (consistent snapshot, checksums, retention)", b["seconds"], b["bytes"] / 1e6],
                     ["kgflow restore (verify every checksum, then extract)", r["seconds"], b["bytes"] / 1e6]]))


if __name__ == "__main__":
    main()
