#!/usr/bin/env bash
# Quickstart 2: the whole test suite, setting up everything it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-system.sh
scripts/setup-venv.sh
# Two workers; the container tests share one engine and image, so they stay together.
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
