"""The action's image: cold build time, size, and how fast a container gets going.

The runner builds a Docker action's image on every run, without a layer cache, so the
cold build (``docker build --no-cache``, the base image present) is part of every
release. Measured for our Dockerfile and, with ``--baseline``, for another Dockerfile
(an older version, say) built from the same context; builds alternate between the two,
so both see the same machine. Reported per image: the median cold build of ``--rounds``
builds; the image size and the layers over the base; and, as medians of ``--starts``
runs, the time from ``docker run`` to the first line the action prints (started as the
runner starts it: no arguments, a tag ref, an action input) and the time of a run that
only imports what a full release imports (the price of an image without bytecode).

Goal: our cold build under 10 s on the base the Dockerfile names (here the stand-in
that tests/support/dockerhost.py makes when no registry is reachable). Exits 1 when
the goal is missed.

Run: .venv/bin/python benchmarks/image.py [--baseline OLD_DOCKERFILE] [--rounds 3]
     [--starts 5] [--json PATH]
(starts a Docker engine if none is up, and stops it again.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from support.dockerhost import base_image, docker, ensure_base_image, ensure_engine  # noqa: E402

GOAL_BUILD_S = 10.0
# What a full release imports (a build, twine's checks, attestations, a GitHub Release):
# in an image without bytecode, these are compiled again on every run.
FULL_RELEASE_IMPORTS = (
    "release.pipeline, release.attest, release.github, release.credentials, build.env, "
    "sigstore.sign, sigstore.verify, pypi_attestations, github, twine.package, "
    "readme_renderer.rst, requests_toolbelt"
)


def build(dockerfile: Path, tag: str, env: dict[str, str]) -> tuple[float, str]:
    """One cold build from the repository's context: its wall time in seconds, the image."""
    start = time.perf_counter()
    out = docker("build", "--no-cache", "-q", "-f", str(dockerfile), "-t", tag, str(REPO), env=env)
    return time.perf_counter() - start, out.stdout.strip()


def size_mb(tag: str, env: dict[str, str]) -> float:
    out = docker("image", "inspect", "-f", "{{.Size}}", tag, env=env).stdout
    return round(int(out) / 1e6, 1)


def layers(tag: str, base: str, env: dict[str, str]) -> list[tuple[float, str]]:
    """The layers the Dockerfile adds to the base: (MB, instruction), largest first."""
    fmt = "{{.ID}}\t{{.Size}}\t{{.CreatedBy}}"

    def history(image: str) -> list[str]:
        out = docker("history", "--no-trunc", "--human=false", "--format", fmt, image, env=env)
        return out.stdout.splitlines()

    ours = history(tag)
    added = ours[: len(ours) - len(history(base))]
    found = []
    for line in added:
        _, size, created_by = line.split("\t", 2)
        if int(size) > 0:
            step = " ".join(created_by.replace("/bin/sh -c #(nop) ", "").split())
            found.append((round(int(size) / 1e6, 1), step[:90]))
    return sorted(found, reverse=True)


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
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.stdout.read()
    proc.wait()
    if not line:
        raise RuntimeError(f"{tag} printed nothing (exit {proc.returncode})")
    return elapsed


def imports_seconds(tag: str, env: dict[str, str]) -> float:
    """A `docker run` that only imports what a full release imports, start to exit."""
    args = ["run", "--rm", "-w", "/opt/action", "--entrypoint", "/opt/release/bin/python"]
    start = time.perf_counter()
    docker(*args, tag, "-c", f"import {FULL_RELEASE_IMPORTS}", env=env)
    return time.perf_counter() - start


def measure(
    contenders: dict[str, Path], base: str, rounds: int, starts: int, env: dict[str, str]
) -> dict[str, dict[str, object]]:
    builds: dict[str, list[float]] = {name: [] for name in contenders}
    latest: dict[str, str] = {}  # the image each tag names now (an earlier run's too)
    for name in contenders:
        got = docker(
            "image", "inspect", "-f", "{{.Id}}", f"release-bench:{name}", check=False, env=env
        )
        if got.returncode == 0:
            latest[name] = got.stdout.strip()
    superseded: list[str] = []  # untagged by a later build of the same tag
    try:
        for i in range(rounds):
            # Alternate the order too: the machine may be busier at one moment than the next.
            order = list(contenders) if i % 2 == 0 else list(reversed(contenders))
            for name in order:
                seconds, image = build(contenders[name], f"release-bench:{name}", env)
                builds[name].append(seconds)
                if name in latest and latest[name] != image:
                    superseded.append(latest[name])
                latest[name] = image
                print(f"  {name}: cold build {seconds:.1f} s", file=sys.stderr)
        result: dict[str, dict[str, object]] = {}
        for name in contenders:
            tag = f"release-bench:{name}"
            runs = [first_line_seconds(tag, env) for _ in range(starts)]
            imports = [imports_seconds(tag, env) for _ in range(starts)]
            result[name] = {
                "cold_build_s": round(statistics.median(builds[name]), 1),
                "cold_build_runs_s": [round(s, 1) for s in builds[name]],
                "size_mb": size_mb(tag, env),
                "first_line_s": round(statistics.median(runs), 2),
                "full_imports_s": round(statistics.median(imports), 2),
                "layers_mb": layers(tag, base, env),
            }
        return result
    finally:
        for image in superseded:
            docker("rmi", image, check=False, env=env)


def report(result: dict[str, dict[str, object]], base: str, base_mb: float) -> str:
    lines = [
        f"base image {base}: {base_mb} MB",
        "",
        "| image | cold build | size | first line | full-release imports |",
        "|---|---|---|---|---|",
    ]
    for name, row in result.items():
        lines.append(
            f"| {name} | {row['cold_build_s']} s | {row['size_mb']} MB "
            f"| {row['first_line_s']} s | {row['full_imports_s']} s |"
        )
    lines.append("(medians; imports: `docker run` to exit, importing what a full release does)")
    for name, row in result.items():
        lines += ["", f"{name}: layers over the base"]
        for mb, step in row["layers_mb"]:  # type: ignore[attr-defined]
            lines.append(f"  {mb:7.1f} MB  {step}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another Dockerfile to compare with")
    parser.add_argument("--rounds", type=int, default=3, help="cold builds of each image")
    parser.add_argument("--starts", type=int, default=5, help="timed `docker run`s of each")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    contenders = {"ours": REPO / "Dockerfile"}
    if args.baseline is not None:
        contenders["baseline"] = args.baseline.resolve()
    env, started = ensure_engine()
    try:
        base = base_image(contenders["ours"])
        for name, dockerfile in contenders.items():
            if base_image(dockerfile) != base:
                raise SystemExit(f"{name} builds on {base_image(dockerfile)}, ours on {base}")
        ensure_base_image(base, env)
        result = measure(contenders, base, args.rounds, args.starts, env)
        base_mb = size_mb(base, env)
    finally:
        if started is not None:
            started.terminate()
            started.wait(30)

    print(report(result, base, base_mb))
    took = float(result["ours"]["cold_build_s"])  # type: ignore[arg-type]
    met = took < GOAL_BUILD_S
    print(
        f"\ngoal: cold build of ours < {GOAL_BUILD_S:g} s: {took} s, {'met' if met else 'MISSED'}"
    )
    summary = {"base": base, "base_mb": base_mb, "goal_build_s": GOAL_BUILD_S, **result}
    print(json.dumps(summary))
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
