#!/usr/bin/env bash
# Create .venv and install modelyard into it (again only when pyproject.toml or the lock changed).
# Usage: scripts/bootstrap.sh [extras]   e.g. scripts/bootstrap.sh dev
#
# Installs with uv when it can (on PATH, or put into the venv by pip: one wheel, seconds),
# which resolves and installs in seconds where pip takes minutes; pip otherwise. Either way the
# versions are the ones pinned in requirements.lock (uv also checks their hashes); a
# dependency added to pyproject.toml and not yet in the lock is resolved freely. Regenerate the
# lock after changing dependencies:
#   uv pip compile pyproject.toml --all-extras --universal --generate-hashes \
#     --python-version 3.11 -o requirements.lock
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
venv=".venv"
lock="requirements.lock"
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

spec="."
[ -n "$extras" ] && spec=".[${extras}]"
stamp="$venv/.modelyard-installed-${extras:-base}"
want="$(cat pyproject.toml "$lock" 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

# uv: on PATH, else fetched by the interpreter's own pip into a scratch folder (one wheel,
# seconds); it makes the venv (with pip) far faster than `python -m venv` does.
uv="$(command -v uv || true)"
scratch=""
trap '[ -z "$scratch" ] || rm -rf "$scratch"' EXIT
if [ -z "$uv" ] && [ -x "$venv/bin/uv" ]; then
  uv="$venv/bin/uv"
fi
if [ -z "$uv" ] && "$python_bin" -m pip --version >/dev/null 2>&1; then
  scratch="$(mktemp -d)"
  if PYTHONWARNINGS=ignore "$python_bin" -m pip install --quiet --disable-pip-version-check \
    --target "$scratch" "uv>=0.5" 2>/dev/null && [ -x "$scratch/bin/uv" ]; then
    uv="$scratch/bin/uv"
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  if [ -z "$uv" ] || ! "$uv" venv --quiet --seed --python "$python_bin" "$venv"; then
    rm -rf "$venv"
    "$python_bin" -m venv "$venv"
  fi
fi

echo "Installing modelyard into $venv (first run only)..." >&2
# The venv's pip is recent enough (Python 3.11+); its warnings (and the build backend's) are
# noise here, its errors are not.
quiet_pip() {
  PYTHONWARNINGS=ignore "$venv/bin/python" -m pip --quiet --disable-pip-version-check "$@" \
    2> >(grep -v '^WARNING: ' >&2)
}

if [ -z "$uv" ]; then
  quiet_pip install "uv>=0.5" || true
  if [ -x "$venv/bin/uv" ]; then uv="$venv/bin/uv"; fi
fi

# uv itself goes into the venv too, for the next install.
if [ -n "$uv" ] &&
  "$uv" pip install --quiet --python "$venv/bin/python" -c "$lock" -e "$spec" "uv>=0.5"; then
  # uv leaves bytecode to the first import, which cannot keep it where
  # PYTHONDONTWRITEBYTECODE is set (every start would compile again), and both processes
  # would compile their shared modules twice on the first start: compile what they import,
  # once, now (pip compiles everything it installs).
  env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -c \
    'import manager.app, inference_server.app, modelyard.cli, modelyard.serve' >/dev/null 2>&1 ||
    true
else
  [ -z "$uv" ] || echo "uv could not install it; trying pip (slower)..." >&2
  # pip would turn the lock's hashes into hash-checking mode, which an editable install
  # cannot satisfy: give it the pins without the hashes.
  pins="$venv/.modelyard-pins.txt"
  grep -v '^[[:space:]]*--hash=' "$lock" | sed 's/[[:space:]]*\\$//' >"$pins"
  quiet_pip install -c "$pins" -e "$spec"
fi
echo "$want" >"$stamp"
