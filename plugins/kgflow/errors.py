"""One base for every error kgflow raises: an HTTP status a client can act on and a one-line message a
person can act on. The gateway maps it once (`gateway.errors`), the CLI once (`cli.app.KgflowGroup`); no
route or command maps its own."""

from __future__ import annotations


class KgflowError(Exception):
    """kgflow could not do what was asked."""

    status: int = 500  # what the gateway answers
    error_type: str = "internal"  # TGI's error type: what kind of failure, for a client's code
    # retrying cannot help (a bad setting, a source that does not exist, refused credentials): an Airflow task
    # fails at once instead of waiting out its retries (kgflow.orchestration.runtime.kgflow_task)
    permanent: bool = False

    def __init__(self, *args: object, status: int | None = None, error_type: str | None = None,
                 headers: dict[str, str] | None = None, permanent: bool | None = None) -> None:
        super().__init__(*args)
        if permanent is not None:
            self.permanent = permanent
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        self.headers = headers or {}

    @property
    def message(self) -> str:
        """The one line a person reads: the error's own words, else its class's first docstring line."""
        return str(self) or (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]


class NotStarted(KgflowError, RuntimeError):
    """A service kgflow starts (Airflow, llama.cpp, Neo4j, Spark) did not come up; the message names its log."""

    status, error_type = 503, "not_ready"
