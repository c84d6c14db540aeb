#!/usr/bin/env bash
# Offline demo: make a tiny model, start both services, chat with it through the manager.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
exec .venv/bin/python -m modelyard_dev.demo "$@"
