"""`airflow standalone` with every port on the configured address: what `kgflow up` runs.

Airflow's scheduler and triggerer each start a log server on every interface (its host is hard-coded).
On one machine the API server reads finished and running tasks' logs from the log folder, so those servers
serve nothing that is not already local: they are skipped, the only change to Airflow's own standalone."""

from __future__ import annotations

from airflow.cli.commands import standalone_command

_SERVES_LOGS = ("scheduler", "triggerer")


class _SubCommand(standalone_command.SubCommand):
    def __init__(self, parent, name: str, command: list[str], env: dict[str, str]) -> None:
        if name in _SERVES_LOGS:
            command = [*command, "--skip-serve-logs"]
        super().__init__(parent, name, command, env)


def main() -> None:
    standalone_command.SubCommand = _SubCommand  # the standalone command builds its components by this name
    standalone_command.StandaloneCommand().run()


if __name__ == "__main__":
    main()
