#!/usr/bin/env bash
# Create .venv and install modelyard into it (again only when pyproject.toml changed).
# Usage: scripts/bootstrap.sh [extras]   e.g. scripts/bootstrap.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
venv=".venv"
python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      python_bin="$candidate"
      break
    fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "modelyard needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python_bin" -m venv "$venv"
fi

spec="."
[ -n "$extras" ] && spec=".[${extras}]"
stamp="$venv/.modelyard-installed-${extras:-base}"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing modelyard into $venv (first run only)..." >&2
  # The venv's own pip is recent enough (Python 3.11+); the build backend's warnings are noise.
  PYTHONWARNINGS=ignore "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e "$spec"
  echo "$want" >"$stamp"
fi
