#!/usr/bin/env bash
# Create .venv with the project and the extras named (default: test,lint); idempotent
# and quick when done. uv installs (much faster than pip); it is bootstrapped with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extras=${1:-test,lint}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(printf '%s' "$extras" | tr ',' '-')-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "Setting up .venv with the project and its $extras tools (first run only)..." >&2
  [ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q --disable-pip-version-check uv
  VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv pip install -q -e ".[$extras]"
  touch "$stamp"
fi
