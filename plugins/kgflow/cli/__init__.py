"""`kgflow` command line: demo, corpus, ingest, status, up/down, serve, ask, bench."""

from kgflow.cli.app import app

__all__ = ["app"]
