"""Durable audit log (SQLite, WAL): who asked, a hash of what, how much came back, how long, which status."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """CREATE TABLE IF NOT EXISTS audit (
  ts REAL NOT NULL, user TEXT NOT NULL, role TEXT, endpoint TEXT NOT NULL, input_sha256 TEXT,
  output_chars INTEGER, latency_ms REAL, status INTEGER NOT NULL)"""


class AuditLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    def record(self, user: str, role: str | None, endpoint: str, input_text: str | None, output_chars: int,
               latency_ms: float, status: int) -> None:
        digest = hashlib.sha256(input_text.encode("utf-8", "replace")).hexdigest() if input_text else None
        with self._lock:
            self._db.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)",
                             (time.time(), user, role, endpoint, digest, output_chars, round(latency_ms, 2), status))

    def rows(self, limit: int = 100) -> list[tuple]:
        with self._lock:
            return self._db.execute("SELECT * FROM audit ORDER BY ts DESC LIMIT ?", (limit,)).fetchall()

    def close(self) -> None:
        self._db.close()
