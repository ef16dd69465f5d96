"""Policy: the distribution files agree with the tag, the project and each other."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .dists import Dist, file_version
from .errors import DistributionError
from .gha import Console
from .proc import run


def _same(a: str, b: Version) -> bool:
    try:
        return Version(a) == b
    except InvalidVersion:
        return False


def check(
    dists: Sequence[Dist],
    *,
    project: str,
    version: Version,
    tag: str,
    built: bool,
    packages_dir: Path,
    console: Console,
) -> None:
    """Every file is of this project and exactly this version; at most one sdist."""
    where = f"{{packages-dir}} '{packages_dir}'"
    if not dists:
        raise DistributionError(
            "no-distributions",
            f"{where} holds no distributions to publish.",
            "With {build=false}, put the wheels and sdist there first (for example "
            "with actions/download-artifact), or set {build=true}.",
        )
    foreign = [d for d in dists if canonicalize_name(d.name) != canonicalize_name(project)]
    if foreign:
        raise DistributionError(
            "dist-name-mismatch",
            f"{where} holds files of another project than '{project}': "
            + ", ".join(f"{d.filename} (project '{d.name}')" for d in foreign)
            + ".",
            "The project name comes from pyproject.toml's [project] name; publish "
            "only that project's files, or set {working-directory} to the right project.",
        )
    mismatched = [
        d
        for d in dists
        if not _same(d.version, version) or not _same(file_version(d.filename) or "", version)
    ]
    if mismatched:
        listing = ", ".join(f"{d.filename} (version {d.version})" for d in mismatched)
        if built:
            raise DistributionError(
                "dist-version-mismatch",
                f"The build made version {mismatched[0].version}, but tag '{tag}' is "
                f"version {version}: {listing}.",
                f"Set the project's version to {version} before tagging (or, with "
                "setuptools-scm or hatch-vcs, make sure the tag is on the checked-out "
                "commit and the checkout has its tags: fetch-depth: 0).",
            )
        raise DistributionError(
            "dist-version-mismatch",
            f"{where} holds files of another version than {version} (tag '{tag}'): {listing}.",
            "Only the tagged version's files may be published; remove the others "
            "(a stale file from an earlier build?).",
        )
    sdists = [d.filename for d in dists if d.kind == "sdist"]
    if len(sdists) > 1:
        raise DistributionError(
            "multiple-sdists",
            f"{where} holds {len(sdists)} sdists: {', '.join(sdists)}; an index "
            "accepts one per version.",
            "Keep one sdist.",
        )
    spellings = {d.version for d in dists} - {str(version)}
    if spellings:
        console.notice(
            f"The metadata spells the version {', '.join(sorted(spellings))} and the tag "
            f"'{tag}' {version}: the same version under PEP 440; the index will show the "
            "metadata's spelling."
        )


def twine_check(
    dists: Sequence[Dist], *, cwd: Path, env: Mapping[str, str], console: Console
) -> None:
    """``twine check --strict``: the long description renders, metadata is complete."""
    proc = run(
        [sys.executable, "-m", "twine", "check", "--strict", *(str(d.path) for d in dists)],
        cwd=cwd,
        env=env,
        title="twine check --strict",
        console=console,
    )
    if proc.returncode != 0:
        raise DistributionError(
            "twine-check-failed",
            "twine check --strict failed: the index would reject or mis-render the metadata.",
            "Fix what the log above names (often the README's markup or a missing "
            "long_description_content_type), or set {verify-metadata=false}.",
        )
