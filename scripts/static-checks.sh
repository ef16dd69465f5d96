#!/usr/bin/env bash
# Offline static checks of the action's own files: schema, workflow security, Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/.."
check-jsonschema --builtin-schema vendor.github-actions action.yml
check-jsonschema --builtin-schema vendor.github-workflows \
  .github/workflows/*.yml examples/workflows/*.yml
zizmor --offline --no-progress .github/workflows/*.yml examples/workflows/*.yml
hadolint Dockerfile
echo "static checks: ok"
