"""Airflow the way production runs it, on bare metal: the CeleryExecutor with PostgreSQL as the metadata
database and Redis as the broker, FAB's auth manager, and each component a process of its own (api-server,
scheduler, dag-processor, triggerer, Celery workers). The same settings docker-compose.yaml gives its
containers, so a bare-metal install and the compose stack differ only in addresses.

Every component must see the same environment: the executor and database, the broker, and the secret the
api-server signs task tokens with (a worker whose secret differs cannot report a task's state)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kgflow.config import REPO_ROOT

# (name, airflow subcommand): the order they start in; the api-server first, as the others report to it
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("api-server", ("api-server",)),
    ("scheduler", ("scheduler",)),
    ("dag-processor", ("dag-processor",)),
    ("triggerer", ("triggerer",)),
    ("celery-worker", ("celery", "worker")),
)


@dataclass(frozen=True)
class ProductionAirflow:
    """Where the shared services are; secrets are passed in (environment or a secrets manager), never made here."""

    airflow_home: Path
    database_url: str  # postgresql+psycopg2://user:password@host:port/db
    broker_url: str  # redis://host:port/0
    api_port: int
    jwt_secret: str
    fernet_key: str
    worker_concurrency: int = 2

    def env(self) -> dict[str, str]:
        api = f"http://127.0.0.1:{self.api_port}"
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.airflow_home / "plugins"),  # kgflow is a package, not a plugin
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            # the driver named: SQLAlchemy 2.1 takes a bare postgresql:// to mean psycopg 3, not installed
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.database_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        }
