"""Background services of the embedded default (Airflow standalone, the gateway), each in its own
process group with a pid file, so `kgflow down` can stop exactly what `up`/`serve` started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kgflow.errors import KgflowError, NotStarted
from kgflow.graph.neo4j_server import USER, LocalNeo4j, Neo4jNotStarted, launcher_command, new_password, wait_ready
from kgflow.netutil import port_free, wait_http
from kgflow.orchestration.airflow_home import airflow_env, ensure_connections, ensure_metadata_db


def _run_dir(home: Path) -> Path:
    d = home / "run"
    d.mkdir(parents=True, exist_ok=True)
    return d


def spawn(home: Path, name: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, Path]:
    """Start a service in a new session (its own process group); record its pid."""
    log = home / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
    (_run_dir(home) / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid, log


class AlreadyRunning(KgflowError, RuntimeError):
    """A service this home started is up already, or its port is taken; the message says what to do."""
    status, error_type = 409, "conflict"


def api_env(port: int) -> dict[str, str]:
    """Where Airflow's API server listens and where its task runners reach it: both on `port`, on loopback.
    (Left at its default, the execution API URL names :8080, and every task on another port fails quietly.)"""
    return {"AIRFLOW__API__PORT": str(port), "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/"}


def running(home: Path, name: str) -> int | None:
    """The pid of a service this home started that is still alive."""
    pid_file = _run_dir(home) / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    return pid if pid_alive(pid) else None


def start(home: Path, port: int = 8080) -> dict:
    pid = running(home, "airflow")
    if pid is not None:
        raise AlreadyRunning(f"Airflow from this home is already running (pid {pid}): use it, or `kgflow down` first")
    if not port_free(port):
        raise AlreadyRunning(f"port {port} is in use by another program: choose another with `kgflow up --port`")
    env = airflow_env()
    ensure_metadata_db()
    ensure_connections()  # visible in the UI under Admin -> Connections
    os.environ.update(api_env(port))
    pid, log = spawn(home, "airflow", [str(Path(sys.executable).parent / "airflow"), "standalone"])
    if not wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", 180, lambda: pid_alive(pid)):
        raise NotStarted(f"Airflow did not become healthy; see {log}")
    (_run_dir(home) / "airflow.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": pid}))
    password = admin_password(Path(env["AIRFLOW_HOME"])) or "(see log)"
    return {"pid": pid, "log": str(log), "password": password}


def admin_password(airflow_home: Path) -> str | None:
    """The admin password Airflow standalone generated (the simple auth manager's file)."""
    pw_file = airflow_home / "simple_auth_manager_passwords.json.generated"
    return json.loads(pw_file.read_text()).get("admin") if pw_file.exists() else None


def local_api_url(home: Path) -> str | None:
    """Where the Airflow that `kgflow up` started in this home serves its API, while it runs."""
    info = _run_dir(home) / "airflow.json"
    return json.loads(info.read_text())["url"] if info.exists() and running(home, "airflow") else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def stop(home: Path, name: str, grace_s: float = 30) -> str:
    """SIGTERM the process group, wait, then SIGKILL (Airflow's scheduler ignores SIGTERM for a while)."""
    pid_file = _run_dir(home) / f"{name}.pid"
    if not pid_file.exists():
        return "not running"
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return "not running"
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_members(pid):
        _reap(pid)  # our own child (serve --background from this process) would stay a zombie otherwise
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)  # stragglers in the group, if any
    except ProcessLookupError:
        pass
    # SIGKILL is delivered, not done: a process holding gigabytes of mappings takes a moment to exit, and
    # `down` promises that nothing is left when it returns
    deadline = time.monotonic() + 15
    while group_members(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    return "stopped"


def stop_all(home: Path) -> dict[str, str]:
    return {p.stem: stop(home, p.stem) for p in sorted(_run_dir(home).glob("*.pid"))}


# ---- `kgflow up --graph neo4j`: the local Neo4j as a service of this home ----------------------------

def start_in_background(home: Path, conn_id: str, port: int = 7687, timeout_s: float = 180) -> LocalNeo4j:
    """`kgflow up --graph neo4j`: the server as a service of this home (pid file, log; `kgflow down` stops it),
    data under <home>/neo4j. The password is the `neo4j_default` Connection's when it has one, else a new
    one, which the caller writes into the Connection."""
    if running(home, "neo4j") is not None:
        raise AlreadyRunning("Neo4j from this home is already running: use it, or `kgflow down` first")
    if not port_free(port):
        raise AlreadyRunning(f"port {port} is in use by another program: choose another with --neo4j-port")
    password = _connection_password(conn_id) or new_password()
    server = LocalNeo4j(port, password, home / "neo4j")
    log = home / "logs" / "neo4j.log"
    offset = log.stat().st_size if log.exists() else 0
    pid, log = spawn(home, "neo4j", launcher_command(server.data_dir, port), env={"KGFLOW_NEO4J_PASSWORD": password})
    if not wait_ready(log, offset, timeout_s, lambda: pid_alive(pid)):
        raise Neo4jNotStarted(f"Neo4j did not start on :{port}; see {log}")
    return server


def _connection_password(conn_id: str) -> str | None:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).first()
        return conn.password if conn is not None and conn.password else None


def write_connection(server: LocalNeo4j, conn_id: str) -> None:
    """Point the `neo4j_default` Connection (metadata database, shown in the UI) at the local server."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).first()
        if conn is None:
            conn = Connection(conn_id=conn_id, conn_type="neo4j")
            session.add(conn)
        conn.host, conn.port, conn.login, conn.password = "127.0.0.1", server.port, USER, server.password
        conn.description = "kgflow: the local Neo4j that `kgflow up --graph neo4j` started"
