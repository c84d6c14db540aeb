#!/usr/bin/env bash
# Run modelyard: the manager (port 8000) and the inference server (port 8001) from the Procfile.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
if [ -f .env ]; then
  exec honcho start -e .env "$@"
fi
exec honcho start "$@"
