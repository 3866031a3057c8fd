"""Structured logs: JSON lines carrying the run id and the document id.

Inside Airflow tasks, Airflow's own structlog pipeline renders every record as JSON and merges structlog's
context variables, so `bound(run_id=..., doc_id=...)` is all a task needs. Processes Airflow does not own
(spark-submit drivers, the gateway) call `configure(component)` once at their entry point to get the same
JSON lines on stderr.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars

__all__ = ["bind", "bound", "configure", "quiet_libraries"]

# Libraries' lines that say nothing to an operator, dropped where they are made (their loggers), not grepped out
# of the logs: faiss reports each CPU-specific build it did not find at INFO, with a traceback-like repr.
_QUIET_LOGGERS = {"faiss.loader": logging.WARNING}

bound = bound_contextvars  # with bound(doc_id=...): fields on every line logged inside
bind = bind_contextvars  # for the rest of this process or task (run_id at a task's start)


def configure(component: str, level: int = logging.INFO) -> None:
    """JSON lines on stderr for every stdlib and structlog logger of this process."""
    shared = [structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
              structlog.stdlib.add_logger_name, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer()])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    bind_contextvars(component=component)


def quiet_libraries() -> None:
    """Drop known library noise at its source (kgflow's package import calls this, so every process that imports
    kgflow has it): faiss's loader probing, pathspec's "gitwildmatch" deprecation (Great Expectations still asks
    for it by that name)."""
    import warnings

    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    warnings.filterwarnings("ignore", message=r".*[Gg]it[Ww]ild[Mm]atch.*", category=DeprecationWarning)
