#!/usr/bin/env bash
# Quickstart 2: the whole test suite, setting up everything it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-system.sh
scripts/setup-venv.sh
# Two workers for everything but the container tests, which then run in one process:
# they share one Docker engine and one image.
# pytest's exit code 5 means "nothing selected", e.g. when "$@" names only one kind.
.venv/bin/python -m pytest -n 2 -m "not container" "$@" || [ $? -eq 5 ]
.venv/bin/python -m pytest -m container "$@" || [ $? -eq 5 ]
