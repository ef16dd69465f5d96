#!/usr/bin/env bash
# Quickstart 1: release the bundled example project to a throwaway local pypiserver.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh demo
exec .venv/bin/python scripts/demo.py "$@"
