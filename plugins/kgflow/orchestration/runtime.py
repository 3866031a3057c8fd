"""Process environment for tasks and spark-submit: offline model loading, the venv's tools on PATH,
the run id on every log line. Connections are Airflow's: env (AIRFLOW_CONN_*), secrets backend, metadata DB."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kgflow.config import offline_env
from kgflow.errors import KgflowError

F = TypeVar("F", bound=Callable[..., Any])


SKIPPED = "skipped: "  # how a skip's reason line starts in the task's log (the CLI finds it by this)


def skip(reason: str):
    """The exception a task raises to skip, after one log line saying why (Airflow's own line has no reason)."""
    from airflow.sdk.exceptions import AirflowSkipException

    logging.getLogger("kgflow.tasks").info("%s%s", SKIPPED, reason)
    return AirflowSkipException(reason)


class UnknownParams(KgflowError, ValueError):
    """A run was triggered with params its DAG does not have (a typo would otherwise be ignored)."""

    status, error_type, permanent = 422, "validation", True


def refuse_unknown_params(given: list[str], declared: list[str], whose: str = "this DAG's") -> None:
    """Raise UnknownParams for any of `given` that is not `declared`, naming the closest declared one: the
    one check behind both the DAG's tasks and `kgflow trigger`."""
    from difflib import get_close_matches

    if unknown := sorted(set(given) - set(declared)):
        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := get_close_matches(k, declared, n=1)) else "")
                 for k in unknown]
        raise UnknownParams(f"unknown param {', '.join(hints)}: {whose} params are {', '.join(declared) or 'none'}")


def check_params(context: dict) -> None:
    """Refuse a run whose conf names a param the DAG does not declare, with the closest one."""
    run = context.get("dag_run")
    # the DAG's own params: the context's `params` already hold the run's conf merged in, unknown keys too
    dag = context.get("dag") or getattr(context.get("task"), "dag", None)
    if dag is None:
        return  # not a DAG's task (a callable called directly): nothing declares params
    refuse_unknown_params(list(getattr(run, "conf", None) or {}), list(dag.params or {}))


def kgflow_task(fn: F) -> F:
    """A task callable whose permanent failures (KgflowError.permanent: a bad setting, a source that does not
    exist, refused credentials) fail the task at once with their one-line reason, skipping the retries that
    cannot help; every other failure keeps them."""
    @functools.wraps(fn)
    def run(*args, **context):
        try:
            check_params(context)
            return fn(*args, **context)
        except KgflowError as e:
            if not e.permanent:
                raise
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(e.message) from e

    return run  # type: ignore[return-value]


def prepare_env(context: dict | None = None) -> None:
    """`context`: a task's Airflow context; its run id then rides on every log line the task writes."""
    offline_env()
    if context is not None:
        from kgflow.logs import bind

        ti = context.get("ti")
        bind(run_id=context.get("run_id"), dag_id=getattr(ti, "dag_id", None), task_id=getattr(ti, "task_id", None))
    # Staged tables hold document text: files this task and its spark-submit children write are 0600.
    os.umask(0o077)
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
