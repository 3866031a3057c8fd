"""Durable audit log (SQLite, WAL): who asked (subject, role, client address), a keyed hash of what,
how much came back, how long, which status, under the request id the caller got in X-Request-ID.

The input is stored only as HMAC-SHA256 under a secret key, so a guessable prompt cannot be recovered
by hashing candidates; the same key makes equal prompts comparable within one installation.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

COLUMNS = {"ts": "REAL NOT NULL", "request_id": "TEXT", "user": "TEXT NOT NULL", "role": "TEXT",
           "client": "TEXT", "endpoint": "TEXT NOT NULL", "input_hmac": "TEXT", "output_chars": "INTEGER",
           "latency_ms": "REAL", "status": "INTEGER NOT NULL"}


@dataclass(frozen=True)
class AuditRow:
    request_id: str
    user: str
    role: str | None
    client: str | None
    endpoint: str
    input_text: str | None
    output_chars: int
    latency_ms: float
    status: int


class AuditLog:
    def __init__(self, path: Path, key: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._key = key
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # no fsync per request on the serving path: WAL with NORMAL survives a crash of the gateway (only a
        # power loss can drop the last rows), the setting SQLite recommends for WAL
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS audit (" + ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
                         + ")")
        have = {r[1] for r in self._db.execute("PRAGMA table_info(audit)")}
        for col, typ in COLUMNS.items():  # a log written by an older version keeps its rows
            if col not in have:
                self._db.execute(f"ALTER TABLE audit ADD COLUMN {col} {typ.replace(' NOT NULL', '')}")
        self._lock = threading.Lock()

    def digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8", "replace"), hashlib.sha256).hexdigest()

    def record(self, row: AuditRow) -> None:
        values = {"ts": time.time(), "request_id": row.request_id, "user": row.user, "role": row.role,
                  "client": row.client, "endpoint": row.endpoint,
                  "input_hmac": self.digest(row.input_text) if row.input_text else None,
                  "output_chars": row.output_chars, "latency_ms": round(row.latency_ms, 2), "status": row.status}
        with self._lock:
            self._db.execute(f"INSERT INTO audit ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                             tuple(values.values()))

    def rows(self, limit: int = 100) -> list[dict]:
        with self._lock:
            cur = self._db.execute("SELECT * FROM audit ORDER BY ts DESC LIMIT ?", (limit,))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def close(self) -> None:
        self._db.close()
