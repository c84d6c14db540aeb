#!/usr/bin/env bash
# Run the checks and the test suite: ruff, mypy, pytest (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy .
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 &&
  [ ! -x /usr/bin/chromium ]; then
  echo "Chromium not found: the browser tests (tests/ui) are skipped." >&2
  echo "To run them, install it (Debian/Ubuntu: sudo apt-get install chromium)." >&2
fi
exec pytest "$@"
