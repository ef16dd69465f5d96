"""What the benchmark scenarios share: measuring a command, paired rounds, the result
table."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import TreeSampler  # noqa: E402
from support.projects import Project  # noqa: E402

PY = sys.executable
USER = "bench"
PASSWORD = "bench-token-not-a-secret"
KIB_PER_MIB = 1024


def uv_bin() -> str:
    """The uv binary of the `uv` package (a dependency of this project)."""
    import uv

    return str(uv.find_uv_bin())


def clean_env(root: Path) -> dict[str, str]:
    """One environment for every contender: no GITHUB_* (the release would think it runs
    in Actions), no PYTHONDONTWRITEBYTECODE, the index's credentials for twine, uv and
    ours, and one uv cache for all (uv build and `build --installer uv` both use it)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "ACTIONS_", "RUNNER_", "TWINE_", "UV_PUBLISH_"))
        # Set in some shells and images; it would make every build backend process
        # compile its imports again (no .pyc is kept), which a plain runner does not.
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        TWINE_USERNAME=USER,
        TWINE_PASSWORD=PASSWORD,
        UV_PUBLISH_USERNAME=USER,
        UV_PUBLISH_PASSWORD=PASSWORD,
        UV_CACHE_DIR=str(root / "uv-cache"),
        UV_PYTHON=PY,  # build with this interpreter, as `python -m build` does
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )
    return env


@dataclasses.dataclass(frozen=True)
class Sample:
    """One timed run of one contender."""

    seconds: float
    peak_tree_kib: int  # sum of RSS over the process tree, sampled every ~10 ms
    # ru_maxrss from wait4: the biggest single process. Only a cross-check: it also
    # counts the benchmark's own RSS, which the child inherits at spawn (vfork).
    max_rss_kib: int
    steps: tuple[float, ...] = ()  # seconds of each command, when there are several

    @property
    def peak_tree_mib(self) -> float:
        return self.peak_tree_kib / KIB_PER_MIB


def run_steps(
    steps: Sequence[Sequence[str]],
    cwd: Path,
    env: dict[str, str],
    log: Path,
    *,
    sample: bool = False,
) -> Sample:
    """Run commands one after the other, each timed; the seconds add up. With `sample`,
    the tree's RSS is sampled too (the memory is the highest of any step), and the
    seconds are not to be compared (see paired). Output goes to `log`."""
    times: list[float] = []
    peak, maxrss = 0, 0
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        for args in steps:
            out.write(f"$ {' '.join(args)}\n".encode())
            out.flush()
            start = time.perf_counter()
            proc = subprocess.Popen(
                list(args), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
            try:
                with TreeSampler(proc.pid) if sample else contextlib.nullcontext() as sampler:
                    _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:  # Ctrl-C: leave no contender running
                proc.kill()
                proc.wait()
                raise
            times.append(time.perf_counter() - start)
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak = max(peak, sampler.peak_kib if sampler is not None else 0)
            maxrss = max(maxrss, usage.ru_maxrss)
            if proc.returncode != 0:
                out.flush()
                tail = log.read_text(errors="replace")[-4000:]
                raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(args)}\n{tail}")
    return Sample(sum(times), peak, maxrss, tuple(times))


@dataclasses.dataclass
class Contender:
    """A way to do the work. `run(version, sample)` prepares (untimed) and returns the
    sample of doing the work for that fresh version (`sample`: see run_steps)."""

    name: str
    run: Callable[[str, bool], Sample]


class Versions:
    """Fresh, increasing versions: every run publishes a version no earlier run used, so
    no upload collides and ours' version gate always passes."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"1.{self.n}.0"


@dataclasses.dataclass(frozen=True)
class Runs:
    """One contender's runs: `timed` with nothing else running in the benchmark (their
    seconds are compared), `sampled` with the process tree's RSS read every ~10 ms
    (their memory is compared, never their seconds).

    The sampler is no neutral observer: it walks /proc ~100 times a second (the task
    list of every thread, each process's status), and a contender that starts many
    processes and threads pays for that more than one that starts few. Timed with it
    running, a small release of this action took ~0.3 s longer (1.51 s against 1.22 s,
    12 rounds each), `uv build && uv publish` ~0 s."""

    timed: list[Sample]
    sampled: list[Sample]


MEMORY_ROUNDS = 3  # rounds with the RSS sampler, after the timed ones


def paired(
    contenders: Sequence[Contender], rounds: int, memory_rounds: int = MEMORY_ROUNDS
) -> dict[str, Runs]:
    """One untimed warm-up run of every contender (caches: build backends, uv, the page
    cache), then `rounds` timed rounds, then `memory_rounds` sampled ones; within a
    round every contender runs once, the order rotating from round to round so that
    none is always first or last."""
    versions = Versions()
    for c in contenders:
        c.run(versions(), False)
    runs = {c.name: Runs([], []) for c in contenders}
    for r in range(rounds + memory_rounds):
        k = r % len(contenders)
        sample = r >= rounds
        for c in [*contenders[k:], *contenders[:k]]:
            got = c.run(versions(), sample)
            (runs[c.name].sampled if sample else runs[c.name].timed).append(got)
    return runs


def median_seconds(samples: list[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def median_peak_mib(samples: list[Sample]) -> float:
    return statistics.median(s.peak_tree_mib for s in samples)


def clear(*paths: Path) -> None:
    """Remove files and folders left by a previous run (dist/, build/, *.egg-info)."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def clean_project(project: Path) -> None:
    clear(
        project / "dist",
        project / "build",
        *project.glob("*.egg-info"),
        *project.glob("src/*.egg-info"),
    )


def new_project(dest: Path, name: str) -> Project:
    """A project with no code: only its name and version, for publishing prebuilt files."""
    dest.mkdir(parents=True)
    (dest / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.0.0"\n', encoding="utf-8"
    )
    (dest / ".gitignore").write_text("dist/\n", encoding="utf-8")
    project = Project(dest)
    project.git("init", "-q")
    project.commit("initial")
    return project


# ---------------------------------------------------------------------------- the table


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: medians of ours and of the peer, and the goal."""

    work: str
    ours: float
    peer: float
    unit: str  # "s" or "MiB"
    goal: str  # "≤ 1.0" (on the ratio), "ours ≤ 60 MiB" (absolute) or "(info)"
    met: bool | None  # None: no goal
    # Median of the rounds' own ratios (ours / peer of the same round): steadier than
    # the ratio of medians when the machine's load drifts. In the JSON only.
    paired_ratio: float

    @property
    def ratio(self) -> float:
        """ours / peer: below 1, ours is faster (or smaller)."""
        return self.ours / self.peer

    def cells(self) -> list[str]:
        digits = 2 if self.unit == "s" else 1
        met = "—" if self.met is None else ("yes" if self.met else "**MISSED**")
        return [
            self.work,
            f"{self.ours:.{digits}f} {self.unit}",
            f"{self.peer:.{digits}f} {self.unit}",
            f"{self.ratio:.2f}",
            self.goal,
            met,
        ]


METRICS: dict[str, Callable[[Sample], float]] = {
    "s": lambda s: s.seconds,
    "MiB": lambda s: s.peak_tree_mib,
}


def compare(
    work: str,
    ours_runs: Runs,
    peer_runs: Runs,
    unit: str,
    *,
    goal: float | None = None,
    limit: float | None = None,
) -> Row:
    """Medians of ours and the peer in `unit` (seconds of the timed runs, or peak tree
    MiB of the sampled ones). `goal`: the most ours / peer may be; `limit`: the most
    ours may be, absolutely; neither: the row only informs."""
    metric = METRICS[unit]
    ours, peer = (
        (ours_runs.timed, peer_runs.timed)
        if unit == "s"
        else (ours_runs.sampled, peer_runs.sampled)
    )
    a = statistics.median(map(metric, ours))
    b = statistics.median(map(metric, peer))
    paired_ratio = statistics.median(metric(x) / metric(y) for x, y in zip(ours, peer, strict=True))
    if goal is not None:
        return Row(work, a, b, unit, f"≤ {goal:.1f}", a / b <= goal, paired_ratio)
    if limit is not None:
        return Row(work, a, b, unit, f"ours ≤ {limit:g} {unit}", a <= limit, paired_ratio)
    return Row(work, a, b, unit, "(info)", None, paired_ratio)


def markdown(rows: Sequence[Row]) -> str:
    head = ["work", "ours", "peer", "ratio", "goal", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)
