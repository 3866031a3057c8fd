"""Task callables for model_refresh and model_deploy: params and context in, kgflow.models/deploy calls."""

from __future__ import annotations

import logging
from pathlib import Path

from kgflow.config import get_settings
from kgflow.orchestration.runtime import kgflow_task, prepare_env, skip

log = logging.getLogger("kgflow.tasks")


def _work(context, s) -> Path:
    from kgflow.models.refresh import work_dir

    return work_dir(context["run_id"], s)


@kgflow_task
def check_new_content(**context) -> dict:
    """Scheduled and asset-triggered runs go ahead only after enough new content; manual runs always do."""
    prepare_env(context)
    from kgflow.models.refresh import new_content_since_last_refresh

    s = get_settings()
    new = new_content_since_last_refresh(s)
    manual = str(context["run_id"]).startswith("manual")
    if not manual and new < s.refresh_min_new_chunks:
        raise skip(f"only {new} new chunks since the last refresh")
    return {"new_chunks": new, "work_dir": str(_work(context, s))}


def _stage(context, name: str):
    """A refresh stage (kgflow.models.refresh.<name>) on this run's work folder, with the task's settings."""
    prepare_env(context)
    from kgflow.models import refresh

    s = get_settings()
    return getattr(refresh, name)(_work(context, s), s)


@kgflow_task
def build_dataset(**context) -> dict:
    return _stage(context, "build_dataset")


@kgflow_task
def train(**context) -> dict:
    prepare_env(context)
    from kgflow.models.refresh import train_candidate

    p, s = context["params"], get_settings()
    report = train_candidate(_work(context, s), s, steps=p.get("steps"), learning_rate=p.get("learning_rate"),
                             rank=p.get("lora_rank"))
    return {k: v for k, v in report.items() if k != "config"}


@kgflow_task
def export(**context) -> str:
    return str(_stage(context, "export_candidate"))


@kgflow_task
def evaluate(**context) -> dict:
    return _stage(context, "evaluate_candidate")


@kgflow_task
def register(**context) -> dict:
    """Always recorded; the registry Asset (and so a deployment) is emitted only for a passing candidate."""
    prepare_env(context)
    from kgflow.models.refresh import register_candidate

    if context["params"].get("dry_run"):
        raise skip("dry run: candidate trained and evaluated, not registered")
    s = get_settings()
    entry = register_candidate(_work(context, s), context["run_id"], s)
    if entry["status"] != "candidate":
        raise skip(f"{entry['version']} rejected by the gate: {entry['metrics']['gate']['reasons']}")
    return {"version": entry["version"], "status": entry["status"]}


@kgflow_task
def deploy(**context) -> dict:
    """Blue/green deploy of a version (param, or the newest candidate), or a rollback; fails loudly."""
    prepare_env(context)
    from kgflow.deploy.rollout import blue_green, make_deployer, rollback
    from kgflow.models.refresh import registry

    p, s = context["params"], get_settings()
    reg, deployer = registry(s), make_deployer(s)
    if p.get("rollback_to"):
        return rollback(reg, deployer, s, to=None if p["rollback_to"] == "previous" else p["rollback_to"])
    version = p.get("version") or next((v["version"] for v in reversed(reg.versions())
                                        if v["status"] == "candidate"), None)
    if version is None:
        raise skip("no candidate to deploy")
    return blue_green(version, reg, deployer, s)
