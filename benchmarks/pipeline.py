"""The release pipeline against uv and against build + twine, in one run, as ratios.

Contenders, each publishing a fresh version per run to a local pypiserver:

- ours: ``python -m release --tag vX --repository-url ... --index-url ...`` (reads the
  index before and after, builds, checks every file, uploads, confirms the upload);
- uv: ``uv build && uv publish``;
- twine: ``python -m build --installer uv`` + ``twine check --strict`` + ``twine upload``.

Scenarios (``--only`` takes their names):

- setuptools, hatchling: a small project of that backend, the whole release.
- prebuilt20: 19 wheels (distinct platform tags) and an sdist of one version, 1-2 MiB
  each, random payload, with ``--no-build``, to an index behind a proxy that holds every
  upload POST for 0.3 s; against ``twine upload`` and ``uv publish`` of the same files.
- big-wheel: one 300 MiB wheel (random payload), ``--no-build``: time, and the peak RSS
  of the whole process tree (summed over the process and its descendants, sampled from
  /proc every ~10 ms); ours also with ``--no-test-install`` (informs: the install
  trial's cost is the difference).
- startup: ``python -m release --version`` against ``python -c pass``.

Every scenario starts with one untimed warm-up run of each contender (the build
backends land in the one uv cache all contenders share), then paired rounds: in each
round every contender runs once, the order rotating. Before every run, untimed, the
index is emptied and its server left with nothing of the previous run to finish (see
reset_index). Medians are compared: the ratio is ours / peer, below 1 when ours
is faster or smaller. Goals: ours <= 1.0x uv and <= 1.0x build + twine (setuptools,
hatchling), <= 0.5x twine (prebuilt20), <= 1.0x twine and a tree RSS <= 60 MiB
(big-wheel), <= 5x a bare interpreter (startup); the other rows only inform.

Run: .venv/bin/python benchmarks/pipeline.py [--rounds N] [--only NAME[,NAME]]
     [--json PATH] [--keep]
Prints a Markdown table (and each contender's spread); exits 1 when a goal is missed.
Other work on the machine makes the timings noisy: a warning says when the load is high.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from common import (
    MEMORY_ROUNDS,
    PASSWORD,
    PY,
    USER,
    Contender,
    Row,
    Runs,
    Sample,
    clean_env,
    clean_project,
    clear,
    compare,
    markdown,
    median_peak_mib,
    median_seconds,
    new_project,
    paired,
    run_steps,
    uv_bin,
)
from distfiles import MIB, big_wheel, prebuilt_set
from support.faults import ALWAYS, FaultProxy, delay
from support.indexes import pypiserver
from support.projects import Project, make_project

POST_DELAY = 0.3  # seconds the proxy holds every upload POST (prebuilt20)
BIG_WHEEL = 300 * MIB
RSS_LIMIT_MIB = 60
STARTUP_RUNS = 10
WAITRESS_THREADS = 4  # pypiserver's server, with its default worker threads
BUSY_LOAD = 1.0  # 1-minute load average above which a warning says the timings are noisy

TWINE_UPLOAD = [PY, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar"]


@dataclasses.dataclass
class Outcome:
    rows: list[Row]
    samples: dict[str, Runs]


def ours_args(tag: str, upload_url: str, simple_url: str, *extra: str) -> list[str]:
    return [
        PY,
        "-m",
        "release",
        "--tag",
        tag,
        "--repository-url",
        upload_url,
        "--index-url",
        simple_url,
        "--no-github-release",
        *extra,
    ]


def reset_index(index_root: Path, simple_url: str, earlier: Sequence[Path] = ()) -> None:
    """Before a run, untimed: remove every file from the index, and let its server
    finish with the previous run.

    pypiserver (without watchdog) hashes every listed file on every page request, which
    PyPI does not: earlier runs' files would make each index read slower and slower, and
    ours reads the index several times. Emptied, every page lists at most what the run
    itself uploaded.

    Its server (waitress) keeps the previous upload's body, a temporary file as large
    as the upload, until the worker thread that took it takes its next request: closing
    it then costs that request ~0.15 s for 300 MiB (measured with strace). Idle workers
    are woken first in, first out, so a run's first requests never reach that worker;
    a contender that makes several (ours reads the index before and after) would pay
    the previous contender's clean-up. A few requests here take every worker in turn.
    """
    for path in (index_root / "packages").iterdir():
        path.unlink()
    # The project's earlier releases, as a real index always holds them: the page every
    # contender reads (uv publish and twine too, to skip what is there) lists them.
    for path in earlier:
        shutil.copy(path, index_root / "packages" / path.name)
    for _ in range(2 * WAITRESS_THREADS):
        with urllib.request.urlopen(simple_url, timeout=30) as answer:  # noqa: S310 - local
            answer.read()


def check_uploaded(index_root: Path, expected: int, who: str) -> None:
    """The run really published: the index holds one file per upload."""
    found = len(list((index_root / "packages").iterdir()))
    if found != expected:
        raise SystemExit(f"{who}: the index holds {found} files after the run, not {expected}")


def progress(name: str, samples: dict[str, Runs]) -> None:
    parts = [
        f"{who} {median_seconds(r.timed):.2f} s"
        + (f" / {median_peak_mib(r.sampled):.0f} MiB" if r.sampled else "")
        for who, r in samples.items()
    ]
    print(f"[{name}] medians: " + ", ".join(parts), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- scenarios


EARLIER = ("0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0")


def earlier_releases(project: Project, uv: str, env: dict[str, str], folder: Path) -> list[Path]:
    """The project's files of a few earlier versions (below every timed run's), built
    once, untimed: the index holds them before every run."""
    for version in EARLIER:
        clean_project(project.path)
        project.release(version)
        run_steps([[uv, "build", "--out-dir", str(folder)]], project.path, env, folder / "log")
    return sorted(folder.glob("*.whl")) + sorted(folder.glob("*.tar.gz"))


def whole_release(kind: str, root: Path, rounds: int) -> Outcome:
    """A small project of one build backend, from tag to confirmed upload, to an index
    that holds its earlier releases (as users meet it)."""
    project = make_project(kind, root / kind)
    env = clean_env(root)
    uv = uv_bin()
    logs = root / "logs"
    earlier = earlier_releases(project, uv, env, root / f"{kind}-earlier")

    with pypiserver(root / "index", USER, PASSWORD) as index:
        upload = index.upload_url

        def contender(who: str, steps: Callable[[str], list[list[str]]]) -> Contender:
            def run(version: str, memory: bool) -> Sample:
                clean_project(project.path)
                reset_index(root / "index", index.simple_url, earlier)
                tag = project.release(version)
                log = logs / f"{who}-{version}.log"
                sample = run_steps(steps(tag), project.path, env, log, sample=memory)
                check_uploaded(root / "index", 2 + len(earlier), who)
                return sample

            return Contender(who, run)

        samples = paired(
            [
                contender("ours", lambda tag: [ours_args(tag, upload, index.simple_url)]),
                contender(
                    "uv", lambda _: [[uv, "build"], [uv, "publish", "--publish-url", upload]]
                ),
                contender(
                    "twine",
                    lambda _: [
                        [PY, "-m", "build", "--installer", "uv", "."],
                        [PY, "-m", "twine", "check", "--strict", "dist/*"],
                        [*TWINE_UPLOAD, "--repository-url", upload, "dist/*"],
                    ],
                ),
            ],
            rounds,
        )
    progress(kind, samples)
    ours, work = samples["ours"], f"{kind}: whole release"
    return Outcome(
        [
            compare(f"{work} vs `uv build && uv publish`", ours, samples["uv"], "s", goal=1.0),
            compare(
                f"{work} vs `build --installer uv` + `twine check --strict` + `twine upload`",
                ours,
                samples["twine"],
                "s",
                goal=1.0,
            ),
        ],
        samples,
    )


def setuptools(root: Path, rounds: int) -> Outcome:
    return whole_release("setuptools", root, rounds)


def hatchling(root: Path, rounds: int) -> Outcome:
    return whole_release("hatchling", root, rounds)


def publish_prebuilt(
    root: Path,
    rounds: int,
    urls: tuple[str, str],
    make: Callable[[Path, str, str], list[Path]],
    *,
    without_trial: bool = False,
) -> dict[str, Runs]:
    """ours --no-build, twine upload and uv publish of the files `make` writes to dist/
    for each fresh version, to the index at `urls` (upload, simple); the files are
    removed after each run. `without_trial`: ours with --no-test-install as well (as
    "ours-no-trial"), to tell the install trial's cost from the upload's."""
    upload, simple = urls
    name = "prebuilt-sample"
    project: Project = new_project(root / "prebuilt", name)
    dist = project.path / "dist"
    env = clean_env(root)
    uv = uv_bin()
    logs = root / "logs"

    def contender(who: str, args: Callable[[str], list[str]]) -> Contender:
        def run(version: str, memory: bool) -> Sample:
            clear(dist)
            reset_index(root / "index", simple)
            files = make(dist, name, version)
            tag = project.release(version)
            os.sync()  # the new files' writeback must not land inside the timed run
            log = logs / f"{who}-{version}.log"
            try:
                sample = run_steps([args(tag)], project.path, env, log, sample=memory)
            finally:
                clear(dist)
            check_uploaded(root / "index", len(files), who)
            return sample

        return Contender(who, run)

    contenders = [
        contender("ours", lambda tag: ours_args(tag, upload, simple, "--no-build")),
        contender("twine", lambda _: [*TWINE_UPLOAD, "--repository-url", upload, "dist/*"]),
        contender("uv", lambda _: [uv, "publish", "--publish-url", upload]),
    ]
    if without_trial:
        contenders.append(
            contender(
                "ours-no-trial",
                lambda tag: ours_args(tag, upload, simple, "--no-build", "--no-test-install"),
            )
        )
    return paired(contenders, rounds)


def prebuilt20(root: Path, rounds: int) -> Outcome:
    """20 files of one version to an index that takes 0.3 s per upload POST."""
    with (
        pypiserver(root / "index", USER, PASSWORD) as index,
        FaultProxy(index.base) as proxy,
    ):
        rule = proxy.add(delay(POST_DELAY), method="POST", times=ALWAYS)
        urls = proxy.url_for(index.upload_url), proxy.url_for(index.simple_url)
        samples = publish_prebuilt(root, rounds, urls, prebuilt_set)
        if rule.fired < 20 * 3 * (rounds + 1 + MEMORY_ROUNDS) or proxy.errors:
            raise SystemExit(f"the proxy held {rule.fired} POSTs; its errors: {proxy.errors}")
    progress("prebuilt20", samples)
    ours = samples["ours"]
    work = f"prebuilt20: 19 wheels + sdist, {POST_DELAY:g} s per upload POST"
    return Outcome(
        [
            compare(f"{work}, vs `twine upload`", ours, samples["twine"], "s", goal=0.5),
            compare(f"{work}, vs `uv publish`", ours, samples["uv"], "s"),
        ],
        samples,
    )


def big_wheel_scenario(root: Path, rounds: int) -> Outcome:
    """One 300 MiB wheel: time and the process tree's peak RSS."""

    def make(folder: Path, name: str, version: str) -> list[Path]:
        return [big_wheel(folder, name, version, BIG_WHEEL)]

    with pypiserver(root / "index", USER, PASSWORD) as index:
        urls = (index.upload_url, index.simple_url)
        samples = publish_prebuilt(root, rounds, urls, make, without_trial=True)
    progress("big-wheel", samples)
    ours, twine, uv = samples["ours"], samples["twine"], samples["uv"]
    bare = samples["ours-no-trial"]
    work = "big-wheel: one 300 MiB wheel"
    rss = f"{work}: peak RSS of the process tree"
    no_trial = "ours with `--no-test-install`"
    return Outcome(
        [
            compare(f"{work}, vs `twine upload`", ours, twine, "s", goal=1.0),
            compare(f"{work}, vs `uv publish`", ours, uv, "s"),
            compare(f"{work}, {no_trial}, vs `twine upload`", bare, twine, "s"),
            compare(f"{rss}, vs `twine upload`", ours, twine, "MiB", limit=RSS_LIMIT_MIB),
            compare(f"{rss}, vs `uv publish`", ours, uv, "MiB"),
            compare(f"{rss}, {no_trial}, vs `twine upload`", bare, twine, "MiB"),
        ],
        samples,
    )


def startup(root: Path, rounds: int) -> Outcome:
    """The interpreter's own start against ours: what every run pays before any work."""
    env = clean_env(root)
    logs = root / "logs"

    def cmd(who: str, args: list[str]) -> Contender:
        return Contender(who, lambda v, _: run_steps([args], root, env, logs / f"{who}-{v}.log"))

    contenders = [
        cmd("ours", [PY, "-m", "release", "--version"]),
        cmd("python", [PY, "-c", "pass"]),
    ]
    samples = paired(contenders, max(STARTUP_RUNS, rounds), memory_rounds=0)
    progress("startup", samples)
    return Outcome(
        [
            compare(
                "startup: `python -m release --version` vs `python -c pass`",
                samples["ours"],
                samples["python"],
                "s",
                goal=5.0,
            )
        ],
        samples,
    )


SCENARIOS: dict[str, Callable[[Path, int], Outcome]] = {
    "setuptools": setuptools,
    "hatchling": hatchling,
    "prebuilt20": prebuilt20,
    "big-wheel": big_wheel_scenario,
    "startup": startup,
}


# --------------------------------------------------------------------------------- main


def details(outcomes: dict[str, Outcome]) -> str:
    """Every contender's spread, for reading where the time goes."""
    lines = [
        "| scenario | contender | runs | median s | min s | max s | median s per command "
        "| median peak tree MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, outcome in outcomes.items():
        for who, runs in outcome.samples.items():
            samples = runs.timed
            secs = [s.seconds for s in samples]
            per_step = " + ".join(
                f"{statistics.median(step):.2f}"
                for step in zip(*(s.steps for s in samples), strict=True)
            )
            memory = f"{median_peak_mib(runs.sampled):.1f}" if runs.sampled else "—"
            lines.append(
                f"| {scenario} | {who} | {len(samples)} | {statistics.median(secs):.2f} "
                f"| {min(secs):.2f} | {max(secs):.2f} | {per_step} | {memory} |"
            )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default: 5)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios to run: " + ", ".join(SCENARIOS) + " (default: all)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs, indexes)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    names = {n.strip() for n in args.only.split(",") if n.strip()} or set(SCENARIOS)
    unknown = sorted(names - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    args.names = [n for n in SCENARIOS if n in names]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    outcomes: dict[str, Outcome] = {}
    load_before = os.getloadavg()[0]
    if load_before > BUSY_LOAD:
        print(
            f"warning: load average {load_before:.1f} before the run: other work on this "
            "machine makes the timings noisy (the pairing evens it out between contenders, "
            "not within a run)",
            file=sys.stderr,
        )
    tmp = Path(tempfile.mkdtemp(prefix="release-bench-"))
    try:
        for name in args.names:
            print(f"[{name}] running ({args.rounds} rounds)...", file=sys.stderr, flush=True)
            root = tmp / name
            root.mkdir()
            outcomes[name] = SCENARIOS[name](root, args.rounds)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = [row for outcome in outcomes.values() for row in outcome.rows]
    load_after = os.getloadavg()[0]
    print(markdown(rows))
    print()
    print(details(outcomes))
    print(f"\n1-minute load average: {load_before:.1f} before, {load_after:.1f} after")
    missed = [row.work for row in rows if row.met is False]
    if args.json:
        result = {
            "rounds": args.rounds,
            "load_average_1min": {"before": load_before, "after": load_after},
            "rows": [
                {**dataclasses.asdict(row), "ratio": row.ratio, "met": row.met} for row in rows
            ],
            "samples": {
                scenario: {who: dataclasses.asdict(runs) for who, runs in outcome.samples.items()}
                for scenario, outcome in outcomes.items()
            },
            "missed": missed,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("\nall goals met" if not missed else f"\nGOALS MISSED: {len(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
