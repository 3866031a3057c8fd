"""Long-running services of the embedded default (Airflow standalone, the gateway, its llama.cpp server, Neo4j),
started one way (`start_service`): each in its own process group, refused in one line before anything starts
when this home runs it already or one of its ports is taken, its pid file written only once it is healthy,
everything it started stopped when it is not. `kgflow down` stops every service of the home, pid file or not:
each process carries the home in its environment (SERVICE_OF)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kgflow.errors import KgflowError, NotStarted
from kgflow.graph.neo4j_server import USER, LocalNeo4j, launcher_command, new_password, wait_ready
from kgflow.netutil import free_port, port_free, wait_http
from kgflow.orchestration.airflow_home import airflow_env, ensure_connections, ensure_metadata_db


def _run_dir(home: Path) -> Path:
    d = home / "run"
    d.mkdir(parents=True, exist_ok=True)
    return d


class AlreadyRunning(KgflowError, RuntimeError):
    """A service this home started is up already, or its port is taken; the message says what to do."""
    status, error_type = 409, "conflict"


SERVICE_OF = "KGFLOW_SERVICE_OF"  # in every service process's environment: the home that started it


@dataclass(frozen=True)
class Service:
    """What `start_service` needs to know of a service."""

    name: str  # its pid file (run/<name>.pid) and log (logs/<name>.log)
    command: list[str]
    ports: tuple[int, ...]  # every port it listens on, checked before it starts
    ready: Callable[[int, Path], bool]  # (pid, log) -> it became healthy (False: it died or timed out)
    env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"  # the address its ports are bound to
    port_option: str = "--port"  # how the user moves it to another port


def start_service(home: Path, svc: Service) -> tuple[int, Path]:
    """Start `svc` for this home: (pid, log). Raises AlreadyRunning, before anything starts, when this home
    runs it already or a port is taken; NotStarted, after stopping everything it started, when it does not
    become healthy. Its pid file is written only once it is healthy."""
    if (pid := running(home, svc.name)) is not None:
        raise AlreadyRunning(f"{svc.name} from this home is already running (pid {pid}): use it, or "
                             "`kgflow down` first")
    for port in svc.ports:
        if not port_free(port, svc.host):
            raise AlreadyRunning(f"port {port} is in use by another program: choose another with "
                                 f"`{svc.port_option}`, or stop that program")
    log = home / "logs" / f"{svc.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(svc.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **svc.env, SERVICE_OF: str(home.resolve())})
    if not svc.ready(proc.pid, log):
        stop_group(proc.pid)
        raise NotStarted(f"{svc.name} did not become healthy and was stopped: {_why(log, offset)} "
                         f"(log: {log})")
    (_run_dir(home) / f"{svc.name}.pid").write_text(str(proc.pid))
    return proc.pid, log


def _why(log: Path, offset: int) -> str:
    """What a person reads first when a start failed: the first error line of this start's output (the cause;
    later ones are its consequences, such as a supervisor giving up), else its last line."""
    with log.open("rb") as f:
        f.seek(offset)
        lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["it wrote nothing"])[0 if errors else -1][:300]


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
    """Airflow standalone for this home on `port`: API server, scheduler, dag processor, triggerer."""
    env = airflow_env()
    # the fixed ports Airflow's helpers would listen on (log servers 8793/8794, the scheduler's health check
    # 8974) are moved to free ones on loopback, so a second home on the machine does not collide with this
    # one; the log servers are not started at all (airflow_standalone says why)
    helpers = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": free_port(),
               "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": free_port(),
               "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": free_port()}
    svc = Service("airflow", [sys.executable, "-m", "kgflow.orchestration.airflow_standalone"], (port,),
                  lambda pid, _: wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", 180,
                                           lambda: pid_alive(pid)),
                  env={**api_env(port), **{k: str(v) for k, v in helpers.items()},
                       "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1"})
    if running(home, "airflow") is None and port_free(port):
        ensure_metadata_db()
        ensure_connections()  # visible in the UI under Admin -> Connections
    os.environ.update(api_env(port))  # this process's own Airflow clients (the CLI) follow the same API
    pid, log = start_service(home, svc)
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
    """Whether `pid` runs. A zombie does not: a service that exited while its launcher still holds it (not
    yet reaped) answers kill(0) like a live one, and its launcher would wait out its whole health timeout."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no procfs: kill(0) is all there is
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
    """Stop the service a pid file names (its whole process group)."""
    pid_file = _run_dir(home) / f"{name}.pid"
    if not pid_file.exists():
        return "not running"
    state = stop_group(int(pid_file.read_text()), grace_s)
    pid_file.unlink(missing_ok=True)
    return state


def stop_group(pid: int, grace_s: float = 30) -> str:
    """SIGTERM the process group, wait, then SIGKILL (Airflow's scheduler ignores SIGTERM for a while)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
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
    return "stopped"


def stop_all(home: Path) -> dict[str, str]:
    """Every service of this home: those its pid files name, then any process that carries the home in its
    environment (a service whose pid file was lost or overwritten)."""
    stopped = {p.stem: stop(home, p.stem) for p in sorted(_run_dir(home).glob("*.pid"))}
    for pgid in sorted(_groups_of(home)):
        stopped[f"process group {pgid}"] = stop_group(pgid)
    return {name: state for name, state in stopped.items() if state != "not running" or "group" not in name}


def _groups_of(home: Path) -> set[int]:
    """Process groups of live processes started as services of this home (SERVICE_OF in their environment)."""
    marker = f"{SERVICE_OF}={home.resolve()}".encode()
    groups = set()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker not in environ.read_bytes().split(b"\0"):
                continue
            fields = (environ.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone, or not ours to read
        if fields[0] != "Z" and int(environ.parent.name) != os.getpid():
            groups.add(int(fields[2]))
    return groups


# ---- `kgflow up --graph neo4j`: the local Neo4j as a service of this home ----------------------------

def start_in_background(home: Path, conn_id: str, port: int = 7687, timeout_s: float = 180) -> LocalNeo4j:
    """`kgflow up --graph neo4j`: the server as a service of this home (pid file, log; `kgflow down` stops it),
    data under <home>/neo4j. The password is the `neo4j_default` Connection's when it has one, else a new
    one, which the caller writes into the Connection."""
    password = _connection_password(conn_id) or new_password()
    server = LocalNeo4j(port, password, home / "neo4j")
    log = home / "logs" / "neo4j.log"
    offset = log.stat().st_size if log.exists() else 0
    start_service(home, Service("neo4j", launcher_command(server.data_dir, port), (port,),
                                lambda pid, log: wait_ready(log, offset, timeout_s, lambda: pid_alive(pid)),
                                env={"KGFLOW_NEO4J_PASSWORD": password}, port_option="--neo4j-port"))
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
