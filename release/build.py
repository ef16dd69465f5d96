"""Build the sdist and wheel with `build`, reproducibly where the backend allows."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .errors import DistributionError
from .gha import Console
from .proc import run


def source_date_epoch(project_dir: Path, commit: str, env: Mapping[str, str]) -> str | None:
    """The commit time of the released commit, so rebuilds give the same bytes."""
    try:
        proc = subprocess.run(
            ["git", "log", "-1", "--format=%ct", commit or "HEAD", "--"],
            cwd=project_dir,
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # no git at all
        return None
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value.isdigit() else None


def uv_available() -> bool:
    return importlib.util.find_spec("uv") is not None or shutil.which("uv") is not None


def build(
    project_dir: Path, outdir: Path, *, commit: str, env: Mapping[str, str], console: Console
) -> None:
    """Build the sdist, then the wheel from it, into ``outdir``."""
    child_env = dict(env)
    epoch = source_date_epoch(project_dir, commit, env)
    if epoch:
        child_env["SOURCE_DATE_EPOCH"] = epoch
    else:
        console.warning(
            "Not building from a git checkout: SOURCE_DATE_EPOCH is not set, so the "
            "files may not be byte-for-byte reproducible."
        )
    args = [sys.executable, "-m", "build", "--outdir", str(outdir.resolve())]
    if uv_available():
        args += ["--installer", "uv"]  # much faster than pip in build's isolated env
    proc = run(
        [*args, "."],
        cwd=project_dir,
        env=child_env,
        title="Build sdist and wheel",
        console=console,
    )
    if proc.returncode != 0:
        raise DistributionError(
            f"Building the sdist and wheel failed (python -m build exited {proc.returncode}).",
            "The build log above shows why; reproduce it with 'python -m build' "
            "in the project folder.",
        )
