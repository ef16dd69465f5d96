#!/usr/bin/env bash
# Quickstart 2: the whole test suite, setting up everything it needs. Both groups run
# whatever the first one gives; the script fails at the end if either failed, after one
# closing line that sums up both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-system.sh
scripts/setup-venv.sh
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT

# pytest's exit code 5 means "nothing selected", e.g. when "$@" names only one kind.
group() {
  local name=$1 code=0
  shift
  .venv/bin/python -m pytest --junitxml="$reports/$name.xml" "$@" || code=$?
  [ "$code" -eq 0 ] || [ "$code" -eq 5 ] || echo "$code" >"$reports/$name.failed"
}
# Two workers for everything but the container tests, which then run in one process:
# they share one Docker engine and one image.
group tests -n 2 -m "not container" "$@"
group container -m container "$@"

# Counts from pytest's JUnit XML reports, one <testcase> per test. A group that failed
# without writing a report (pytest could not start) counts as one failure.
.venv/bin/python - "$reports" <<'EOF'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

reports = Path(sys.argv[1])
total = {"passed": 0, "failed": 0, "skipped": 0}
for name in ("tests", "container"):
    count = dict.fromkeys(total, 0)
    xml = reports / f"{name}.xml"
    if xml.is_file():
        for case in ET.parse(xml).iter("testcase"):
            tags = {child.tag for child in case}
            if tags & {"failure", "error"}:
                count["failed"] += 1
            elif "skipped" in tags:
                count["skipped"] += 1
            else:
                count["passed"] += 1
    failed = reports / f"{name}.failed"
    if failed.is_file():
        code = failed.read_text().strip()
        print(f"pytest ({name}) failed with exit code {code}")
        count["failed"] = max(count["failed"], 1)
    for kind in total:
        total[kind] += count[kind]
print("tests: {passed} passed, {failed} failed, {skipped} skipped".format(**total))
EOF
if compgen -G "$reports/*.failed" >/dev/null; then
  exit 1
fi
