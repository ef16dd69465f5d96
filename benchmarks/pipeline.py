"""The release pipeline against the plain tools, in one run, as ratios.

Plain: ``python -m build`` + ``twine check --strict`` + ``twine upload``, the minimum a
careful maintainer runs by hand. Ours: ``python -m release``, which also reads the
index before and after, checks every file and confirms the upload. Both publish the same
project (a fresh version each round) to the same local pypiserver, alternating, and the
medians are compared. Targets: wall time at most 1.5x the plain tools, peak memory
(max RSS of the process tree) at most 1.5x.

Run: .venv/bin/python benchmarks/pipeline.py [rounds]
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))
from demo import tagged_copy  # noqa: E402
from support.indexes import pypiserver  # noqa: E402
from support.projects import git  # noqa: E402

PASSWORD = "bench-token"
TIME_TARGET = 1.5
MEMORY_TARGET = 1.5


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of a command and its children."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}")
    return elapsed, usage.ru_maxrss


def bump(project: Path, version: str) -> str:
    py = project / "pyproject.toml"
    py.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', py.read_text()))
    git(project, "commit", "-q", "--allow-empty", "-am", version)
    git(project, "tag", f"v{version}")
    return f"v{version}"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    py = sys.executable
    plain_t, ours_t, plain_m, ours_m = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="release-bench-") as tmp:
        root = Path(tmp)
        project = tagged_copy(REPO / "tests" / "projects" / "flit", root / "p", "v0.0.1")
        with pypiserver(root / "index", "bench", PASSWORD) as index:
            url = index.upload_url.rstrip("/")
            env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
            env.update(
                TWINE_USERNAME="bench", TWINE_PASSWORD=PASSWORD, UV_CACHE_DIR=str(root / "uv-cache")
            )
            for n in range(rounds):
                for kind in ("plain", "ours"):
                    tag = bump(project, f"1.{n}.{0 if kind == 'plain' else 1}")
                    dist = project / "dist"
                    for f in dist.glob("*") if dist.exists() else []:
                        f.unlink()
                    if kind == "plain":
                        t1, m1 = timed([py, "-m", "build", "--installer", "uv", "."], project, env)
                        files = [str(p) for p in dist.iterdir()]
                        t2, m2 = timed(
                            [py, "-m", "twine", "check", "--strict", *files], project, env
                        )
                        t3, m3 = timed(
                            [
                                py,
                                "-m",
                                "twine",
                                "upload",
                                "--non-interactive",
                                "--disable-progress-bar",
                                "--repository-url",
                                f"{url}/",
                                *files,
                            ],
                            project,
                            env,
                        )
                        plain_t.append(t1 + t2 + t3)
                        plain_m.append(max(m1, m2, m3))
                    else:
                        t, m = timed(
                            [
                                py,
                                "-m",
                                "release",
                                "--tag",
                                tag,
                                "--repository-url",
                                f"{url}/",
                                "--index-url",
                                f"{url}/simple/",
                            ],
                            project,
                            env,
                        )
                        ours_t.append(t)
                        ours_m.append(m)
    result = {
        "rounds": rounds,
        "plain_seconds": round(statistics.median(plain_t), 3),
        "ours_seconds": round(statistics.median(ours_t), 3),
        "time_ratio": round(statistics.median(ours_t) / statistics.median(plain_t), 2),
        "plain_max_rss_mib": round(statistics.median(plain_m) / 1024, 1),
        "ours_max_rss_mib": round(statistics.median(ours_m) / 1024, 1),
        "memory_ratio": round(statistics.median(ours_m) / statistics.median(plain_m), 2),
    }
    print(json.dumps(result))
    ok = result["time_ratio"] <= TIME_TARGET and result["memory_ratio"] <= MEMORY_TARGET
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
