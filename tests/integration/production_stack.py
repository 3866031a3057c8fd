"""The shared services of a bare-metal production stack, from their Debian binaries on loopback: a PostgreSQL
cluster (Airflow's metadata database) and a Redis server (the Celery broker and the gateway's rate limits),
each in a folder of the kgflow home and stopped when the block ends."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kgflow.netutil import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """PostgreSQL refuses to run as root: its own tools run as the `postgres` user the package created."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + cmd, check=True, capture_output=True, text=True, **kw)


def _wait_port(port: int, timeout_s: float, alive) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not alive():
            raise RuntimeError(f"the server for port {port} exited")
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s} s")


@contextmanager
def postgres(folder: Path, password: str, user: str = "airflow", database: str = "airflow") -> Iterator[str]:
    """Yields a SQLAlchemy URL (psycopg2) of a fresh cluster with one database; password authentication."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    shutil.chown(folder, "postgres", "postgres")
    data, pwfile = folder / "data", folder / "pwfile"
    pwfile.write_text(password + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", user, "--pwfile", str(pwfile),
                  "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8"])
    pwfile.unlink()
    port = free_port()
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    log = (folder / "postgres.log").open("ab")
    proc = subprocess.Popen(prefix + [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
                                      "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(port, 60, lambda: proc.poll() is None)
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database],
                       check=True, env=env, capture_output=True)
        yield f"postgresql+psycopg2://{user}:{password}@127.0.0.1:{port}/{database}"
    finally:
        proc.terminate()  # SIGTERM: PostgreSQL's "smart" shutdown; waits for sessions to end
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def redis(folder: Path) -> Iterator[str]:
    """Yields redis://127.0.0.1:<port>; nothing persisted."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(folder)],
                            stdout=(folder / "redis.log").open("ab"), stderr=subprocess.STDOUT)
    try:
        _wait_port(port, 30, lambda: proc.poll() is None)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
