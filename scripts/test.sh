#!/usr/bin/env bash
# Quickstart 2: the whole test suite, setting up everything it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
exec .venv/bin/python -m pytest -n 2 "$@"
