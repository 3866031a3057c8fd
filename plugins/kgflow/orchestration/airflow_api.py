"""A running Airflow's REST API (v2), as `kgflow trigger` uses it: log in, trigger a DAG run with a
conf, follow it to the end. Errors are `AirflowApiError`s whose message says what to do."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from kgflow.errors import KgflowError

FINISHED = {"success", "failed"}
FOLLOW_PATIENCE_S = 120.0  # how long `follow` keeps asking an API server that answers 5xx or not at all


class AirflowApiError(KgflowError, RuntimeError):
    """A refusal or an unreachable API; the message is one actionable line. `airflow_status`: the HTTP status
    of Airflow's refusal (None when there was no answer)."""
    status, error_type = 502, "airflow"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.airflow_status = status


@dataclass
class AirflowApi:
    url: str  # the API server's base URL, e.g. http://127.0.0.1:8080
    username: str
    password: str
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=self.timeout_s)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AirflowApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self._client.request(method, path, **kw)
        except httpx.TransportError as e:
            raise AirflowApiError(f"no Airflow API at {self.url} ({type(e).__name__}): start it with `kgflow up` "
                                  "or give its address with --url") from None
        if r.status_code == 401:
            raise AirflowApiError(f"Airflow at {self.url} refused the credentials of {self.username!r}: give "
                                  "--username/--password (or KGFLOW_AIRFLOW_USERNAME/KGFLOW_AIRFLOW_PASSWORD)", 401)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise AirflowApiError(f"Airflow refused {method} {path} ({r.status_code}): {str(detail)[:300]}",
                                  r.status_code)
        return r.json() if r.content else None

    def login(self) -> None:
        """A JWT from the auth manager's token endpoint, sent with every later request."""
        token = self._request("POST", "/auth/token", json={"username": self.username, "password": self.password})
        self._client.headers["Authorization"] = f"Bearer {token['access_token']}"

    def dag(self, dag_id: str) -> dict:
        try:
            return self._request("GET", f"/api/v2/dags/{dag_id}")
        except AirflowApiError as e:
            if e.airflow_status == 404:
                raise AirflowApiError(f"Airflow at {self.url} has no DAG {dag_id!r}: see the DAGs page for the "
                                      "ids (knowledge_ingest, model_refresh, model_deploy, kb_backup, ...)") from None
            raise

    def params(self, dag_id: str) -> list[str]:
        """The names of the params a DAG declares (its trigger form's fields)."""
        return list(self._request("GET", f"/api/v2/dags/{dag_id}/details").get("params") or {})

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict) -> dict:
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """Each task's state, in the order the tasks ended (those still going last)."""
        tis = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        tis.sort(key=lambda ti: (ti.get("end_date") is None, ti.get("end_date") or ""))
        return {ti["task_id"]: ti["state"] for ti in tis}

    def skip_reason(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """Why a skipped task skipped: the reason line kgflow's tasks write before they skip
        (kgflow.orchestration.runtime.skip), read from the task's log."""
        from kgflow.orchestration.runtime import SKIPPED

        for try_number in (1, 0):
            try:
                body = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/"
                                            f"{try_number}", headers={"Accept": "application/json"})
            except AirflowApiError:
                continue
            content = body.get("content") if isinstance(body, dict) else None
            lines = content if isinstance(content, list) else str(content or "").splitlines()
            for line in lines:
                event = line.get("event", "") if isinstance(line, dict) else str(line)
                if SKIPPED in event:
                    return event[event.index(SKIPPED) + len(SKIPPED):].strip()
        return None

    def follow(self, dag_id: str, run_id: str, on_task: Callable[[str, str], None] | None = None,
               poll_s: float = 2.0, timeout_s: float = 3600) -> str:
        """Wait for the run to finish, calling on_task(task_id, state) at every task state change; the
        run's final state. Raises AirflowApiError after timeout_s (the run itself goes on)."""
        seen: dict[str, str | None] = {}
        deadline = time.monotonic() + timeout_s
        failing_since: float | None = None
        state = "queued"
        while True:
            try:
                for task, st in self.task_states(dag_id, run_id).items():
                    if st and seen.get(task) != st and on_task:
                        on_task(task, st)
                    seen[task] = st
                state = self.run(dag_id, run_id)["state"]
                failing_since = None
            except AirflowApiError as e:
                # watching is not the run: a busy API server's 5xx (or a moment without an answer) is asked
                # again, for a while, before the command gives up; the run goes on either way
                if e.airflow_status is not None and e.airflow_status < 500:
                    raise
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > FOLLOW_PATIENCE_S:
                    raise
            if state in FINISHED:
                return state
            if time.monotonic() > deadline:
                raise AirflowApiError(f"run {run_id} still {state} after {timeout_s:.0f} s: follow it in the UI")
            time.sleep(poll_s)
