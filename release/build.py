"""Build the sdist and wheel with `build`, reproducibly where the backend allows."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from .errors import DistributionError
from .gha import Console
from .proc import run


def uv_available() -> bool:
    return importlib.util.find_spec("uv") is not None or shutil.which("uv") is not None


def build(
    project_dir: Path,
    outdir: Path,
    *,
    source_date_epoch: str,
    env: Mapping[str, str],
    console: Console,
) -> None:
    """Build the sdist, then the wheel from it, into ``outdir`` (a fresh folder)."""
    child_env = dict(env)
    if source_date_epoch:
        # The released commit's time, whatever the environment says: the same tag then
        # builds the same bytes on any machine (https://reproducible-builds.org/specs/source-date-epoch/).
        child_env["SOURCE_DATE_EPOCH"] = source_date_epoch
    elif not child_env.get("SOURCE_DATE_EPOCH", "").isdigit():
        child_env.pop("SOURCE_DATE_EPOCH", None)  # a malformed value fails some backends
        console.warning(
            "No commit time for SOURCE_DATE_EPOCH: the files may not be byte-for-byte reproducible."
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
            "build-failed",
            f"Building the sdist and wheel failed (python -m build exited {proc.returncode}).",
            "The build log above shows why; reproduce it with 'python -m build' "
            "in the project folder.",
        )


def copy_out(built: list[Path], packages_dir: Path) -> None:
    """Leave the built files in packages-dir too (for later steps such as
    upload-artifact), replacing same-named files; other files there are left alone."""
    packages_dir.mkdir(parents=True, exist_ok=True)
    for path in built:
        target = packages_dir / path.name
        if target.is_symlink() or target.exists():
            target.unlink()
        shutil.copy2(path, target)
