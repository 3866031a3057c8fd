"""A local Neo4j 5.26 Community server with no Docker: the launcher in `services/neo4j` (built by the install
with Maven from Maven Central's Community artifacts), Bolt on a loopback port, HTTP off, data under the
kgflow home. What the tests start, and what `kgflow up --graph neo4j` starts for a production-like setup;
production points the `neo4j_default` Connection at its own server instead."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kgflow.config import REPO_ROOT
from kgflow.errors import NotStarted
from kgflow.netutil import free_port, wait_until

LAUNCHER = REPO_ROOT / "services" / "neo4j" / "target"
MAIN_CLASS = "io.kgflow.neo4j.Launcher"
USER = "neo4j"


class Neo4jNotStarted(NotStarted):
    """The local Neo4j did not come up; the message names its log."""


@dataclass(frozen=True)
class LocalNeo4j:
    """Where a started server answers, and the Airflow Connection URI that names it."""

    port: int
    password: str
    data_dir: Path

    @property
    def bolt_url(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def conn_uri(self) -> str:
        """For AIRFLOW_CONN_<ID>: the Neo4j provider's hook turns it into the driver's URI and auth."""
        return f"neo4j://{USER}:{self.password}@127.0.0.1:{self.port}"

    def empty(self) -> None:
        """Delete every node and relationship (tests and benches start from an empty graph). Schema stays."""
        from neo4j import GraphDatabase

        # CALL ... IN TRANSACTIONS keeps each transaction small, and runs only in an auto-commit session
        with GraphDatabase.driver(self.bolt_url, auth=(USER, self.password)) as driver, driver.session() as s:
            s.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


# Publish loads a run in one transaction, which Neo4j caps at 70 % of the heap: ~3 KB per graph row
# measured (bench/graph_backend_bench.py), so a 2 GB heap takes a run of ~450k rows
def launcher_command(data_dir: Path, port: int, heap_mb: int = 2048, pagecache_mb: int = 256,
                     transaction_memory_mb: int = 0) -> list[str]:
    jar = LAUNCHER / "kgflow-neo4j-1.0.jar"
    if not jar.exists():
        raise Neo4jNotStarted(f"the Neo4j launcher is not built ({jar}): run `make install`")
    return ["java", f"-Xmx{heap_mb}m", "-XX:+UseG1GC", "-cp", f"{jar}:{LAUNCHER / 'lib'}/*", MAIN_CLASS,
            "--home", str(data_dir), "--bolt-port", str(port), "--pagecache-mb", str(pagecache_mb),
            "--transaction-memory-mb", str(transaction_memory_mb)]


def new_password() -> str:
    return secrets.token_urlsafe(18)


READY_LINE = b"kgflow-neo4j ready"


def wait_ready(log: Path, offset: int, timeout_s: float, alive: Callable[[], bool]) -> bool:
    """True once the launcher reports ready in its log after `offset`. Bolt opens before the launcher sets
    the password, so connecting to find out would fail authentication and trip Neo4j's rate limit."""
    def reported() -> bool:
        with log.open("rb") as f:
            f.seek(offset)
            return READY_LINE in f.read()

    return wait_until(reported, timeout_s, interval_s=0.2, alive=alive)


@contextmanager
def local_neo4j(data_dir: Path, port: int | None = None, password: str | None = None,
                timeout_s: float = 180, transaction_memory_mb: int = 0) -> Iterator[LocalNeo4j]:
    """A server for the length of the block (tests, benches): started, waited for, stopped cleanly.
    `transaction_memory_mb` caps one transaction (0: Neo4j's default, the global pool)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = LocalNeo4j(port or free_port(), password or new_password(), data_dir)
    log = data_dir / "launcher.log"
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(launcher_command(data_dir, server.port, transaction_memory_mb=transaction_memory_mb),
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "KGFLOW_NEO4J_PASSWORD": server.password})
    try:
        if not wait_ready(log, offset, timeout_s, lambda: proc.poll() is None):
            raise Neo4jNotStarted(f"Neo4j did not accept Bolt connections on :{server.port}; see {log} and "
                                  f"{data_dir / 'logs' / 'debug.log'}")
        yield server
    finally:
        proc.terminate()  # the launcher's shutdown hook stops the DBMS and flushes the store
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
