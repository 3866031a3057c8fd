#!/usr/bin/env bash
# The whole suite, slow integration tests included; fails when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -ra "$@"
