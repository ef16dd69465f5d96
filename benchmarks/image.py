"""The action's image against its dependencies alone on the same base, in one run.

Measures, for both: image size, cold build time (docker build --no-cache; the base
image present) and, for ours, the time from `docker run` to the first line of output,
as the runner starts it (no arguments, a tag ref, action inputs).

Run: .venv/bin/python benchmarks/image.py   (starts a Docker engine if none is up)
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from dockerhost import base_image, docker, ensure_base_image, ensure_engine  # noqa: E402

DEPS_ONLY = """FROM {base}
COPY requirements/runtime.txt /tmp/runtime.txt
RUN python -m pip install --no-cache-dir --no-deps --require-hashes -r /tmp/runtime.txt
"""


def build(context: Path, tag: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    docker("build", "--no-cache", "-q", "-t", tag, str(context), env=env)
    return time.perf_counter() - start


def size_mb(tag: str, env: dict[str, str]) -> float:
    out = docker("image", "inspect", "-f", "{{.Size}}", tag, env=env).stdout
    return round(int(out) / 1e6, 1)


def first_line_seconds(tag: str, env: dict[str, str]) -> float:
    """From `docker run` to the first line the action prints."""
    args = [
        "docker",
        "run",
        "--rm",
        "-e",
        "GITHUB_ACTIONS=true",
        "-e",
        "GITHUB_REF=refs/tags/v1.0.0",
        "-e",
        "INPUT_PASSWORD=not-a-token",
        tag,
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.wait()
    return elapsed


def main() -> None:
    env, started = ensure_engine()
    try:
        base = base_image(REPO / "Dockerfile")
        ensure_base_image(base, env)
        with tempfile.TemporaryDirectory() as tmp:
            deps = Path(tmp)
            (deps / "requirements").mkdir()
            shutil.copy(REPO / "requirements" / "runtime.txt", deps / "requirements")
            (deps / "Dockerfile").write_text(DEPS_ONLY.format(base=base))
            deps_build = build(deps, "release-bench:deps", env)
        ours_build = build(REPO, "release-bench:ours", env)
        starts = [first_line_seconds("release-bench:ours", env) for _ in range(5)]
        result = {
            "base": base,
            "base_mb": size_mb(base, env),
            "deps_only_mb": size_mb("release-bench:deps", env),
            "ours_mb": size_mb("release-bench:ours", env),
            "deps_only_build_s": round(deps_build, 1),
            "ours_build_s": round(ours_build, 1),
            "first_output_s": round(statistics.median(starts), 2),
        }
        result["size_ratio_vs_deps_only"] = round(result["ours_mb"] / result["deps_only_mb"], 2)
        print(json.dumps(result))
    finally:
        if started is not None:
            started.terminate()
            started.wait(30)


if __name__ == "__main__":
    main()
