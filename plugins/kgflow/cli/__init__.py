"""`kgflow` command line (kgflow.cli.app): demo, corpus, ingest, status, recall, up/down, serve, ask."""
