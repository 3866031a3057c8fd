#!/usr/bin/env bash
# The whole suite, slow integration tests included; fails when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
# --durations: the slowest tests in every run, so CI time can be kept under its bound
exec .venv/bin/python -m pytest -ra --durations=40 "$@"
