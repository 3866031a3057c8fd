"""Settings are built at the entry points and passed down: `get_settings()` is called only where a process or
a task begins, so the library below can be run with any Settings a caller builds (a test, a bench, another
home) and never reads the environment behind its caller's back."""

from __future__ import annotations

import ast

from kgflow.config import REPO_ROOT

# where a process or a task begins (docs/architecture.md, "Entry points")
ENTRY_POINTS = (
    "kgflow.cli",  # the CLI's commands
    "kgflow.gateway.app",  # the gateway's app factory
    "kgflow.orchestration.tasks", "kgflow.orchestration.model_tasks", "kgflow.orchestration.ops_tasks",
    "kgflow.orchestration.defaults",  # the DAG task callables and their callbacks
    "kgflow.orchestration.airflow_home", "kgflow.orchestration.run_dag",  # process setup before Airflow loads
    "kgflow.etl.submit",  # the Spark jobs' main
)


def _callers() -> dict[str, int]:
    """module -> number of get_settings() calls in it."""
    out = {}
    for path in (REPO_ROOT / "plugins" / "kgflow").rglob("*.py"):
        module = ".".join(path.relative_to(REPO_ROOT / "plugins").with_suffix("").parts).removesuffix(".__init__")
        calls = sum(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "get_settings"
                    for n in ast.walk(ast.parse(path.read_text())))
        if calls and module != "kgflow.config":
            out[module] = calls
    return out


def _outside_entry_points(callers: dict[str, int]) -> dict[str, int]:
    return {m: n for m, n in callers.items() if not any(m == e or m.startswith(e + ".") for e in ENTRY_POINTS)}


def test_settings_are_read_only_at_entry_points():
    assert _outside_entry_points(_callers()) == {}


def test_the_check_finds_a_library_module_that_reads_settings():
    assert _outside_entry_points({"kgflow.ingest.steps": 1, "kgflow.cli.app": 3}) == {"kgflow.ingest.steps": 1}
