# The two README commands. Both install first (idempotent: skipped when nothing changed).
PY := .venv/bin/python

.PHONY: install demo test lint bench up down

install:
	bash scripts/install.sh

demo: install
	$(PY) -m kgflow.cli.app demo

test: install
	bash scripts/test.sh

lint: install
	.venv/bin/ruff check .

bench: install
	$(PY) -m kgflow.cli.app bench

up: install
	$(PY) -m kgflow.cli.app up

down:
	$(PY) -m kgflow.cli.app down
