#!/usr/bin/env bash
# Run the checks and the test suite: ruff, mypy, pytest (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy .
exec pytest "$@"
