#!/usr/bin/env bash
# Run modelyard: the manager (port 8000) and the inference server (port 8001) in the foreground
# with `modelyard serve` (settings from the environment and .env). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/modelyard serve "$@"
