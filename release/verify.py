"""The distribution files agree with the tag, the project and each other."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import DistributionError
from .gha import Console
from .index import file_version, sha256_of
from .proc import run


@dataclasses.dataclass(frozen=True)
class Dist:
    """One distribution file and what its own metadata says."""

    path: Path
    kind: str  # "wheel" or "sdist"
    name: str
    version: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return self.path.name


def find_files(packages_dir: Path) -> tuple[list[Path], list[Path]]:
    """(distributions, other entries) in the packages directory; dotfiles are ignored."""
    if not packages_dir.is_dir():
        return [], []
    dists, others = [], []
    for entry in sorted(packages_dir.iterdir()):
        if entry.name.startswith("."):
            continue  # e.g. the .gitignore that some build tools write there
        if entry.is_file() and entry.name.endswith((".whl", ".tar.gz")):
            dists.append(entry)
        else:
            others.append(entry)
    return dists, others


def _metadata_bytes(path: Path) -> bytes:
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            names = [
                n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) == 1:
                return zf.read(names[0])
    else:
        with tarfile.open(path, "r:gz") as tf:
            for member in tf:
                if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                    fh = tf.extractfile(member)
                    if fh is not None:
                        return fh.read()
    raise DistributionError(
        f"{path.name} has no readable metadata "
        f"({'*.dist-info/METADATA' if path.name.endswith('.whl') else 'PKG-INFO'}).",
        "The file is damaged or was not made by a standard build backend; rebuild it.",
    )


def read_dist(path: Path) -> Dist:
    """Open a distribution and read its name and version from its own metadata."""
    try:
        raw, _ = parse_email(_metadata_bytes(path))
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise DistributionError(
            f"{path.name} cannot be opened as a distribution: {exc}.",
            "Rebuild the file; it may have been truncated or damaged in transfer.",
        ) from None
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        raise DistributionError(
            f"{path.name}'s metadata has no Name or Version.",
            "Rebuild the file with a standard build backend.",
        )
    return Dist(
        path=path,
        kind="wheel" if path.name.endswith(".whl") else "sdist",
        name=name,
        version=version,
        sha256=sha256_of(path),
        size=path.stat().st_size,
    )


def _same(a: str, b: Version) -> bool:
    try:
        return Version(a) == b
    except InvalidVersion:
        return False


def check(
    dists: Sequence[Dist],
    others: Sequence[Path],
    *,
    project: str,
    version: Version,
    tag: str,
    built: bool,
    packages_dir: Path,
    console: Console,
) -> None:
    """Every file is of this project and exactly this version; at most one sdist."""
    where = f"packages-dir '{packages_dir}'"
    if others:
        raise DistributionError(
            f"{where} holds files that are not distributions: "
            + ", ".join(p.name for p in others)
            + ".",
            "Only wheels (.whl) and sdists (.tar.gz) are published; remove the others.",
        )
    if not dists:
        raise DistributionError(
            f"{where} holds no distributions to publish.",
            "With build: false, put the wheels and sdist there first (for example "
            "with actions/download-artifact), or set build: true.",
        )
    foreign = [d for d in dists if canonicalize_name(d.name) != canonicalize_name(project)]
    if foreign:
        raise DistributionError(
            f"{where} holds files of another project than '{project}': "
            + ", ".join(f"{d.filename} (project '{d.name}')" for d in foreign)
            + ".",
            "The project name comes from pyproject.toml's [project] name; publish "
            "only that project's files, or set working-directory to the right project.",
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
                f"The build made version {mismatched[0].version}, but tag '{tag}' is "
                f"version {version}: {listing}.",
                f"Set the project's version to {version} before tagging (or, with "
                "setuptools-scm or hatch-vcs, make sure the tag is on the checked-out "
                "commit and the checkout has its tags: fetch-depth: 0).",
            )
        raise DistributionError(
            f"{where} holds files of another version than {version} (tag '{tag}'): {listing}.",
            "Only the tagged version's files may be published; remove the others "
            "(a stale file from an earlier build?).",
        )
    sdists = [d.filename for d in dists if d.kind == "sdist"]
    if len(sdists) > 1:
        raise DistributionError(
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
            "twine check --strict failed: the index would reject or mis-render the metadata.",
            "Fix what the log above names (often the README's markup or a missing "
            "long_description_content_type), or set verify-metadata: false.",
        )


def _members(path: Path) -> dict[str, str]:
    """Each archive member's name and a digest of its content (times and owners ignored)."""
    out: dict[str, str] = {}
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    out[info.filename] = hashlib.sha256(zf.read(info)).hexdigest()
        return out
    with tarfile.open(path, "r:gz") as tf:
        for member in tf:
            if member.isfile():
                fh = tf.extractfile(member)
                out[member.name] = hashlib.sha256(fh.read() if fh else b"").hexdigest()
            elif member.issym() or member.islnk():
                out[member.name] = "link:" + member.linkname
    return out


def same_contents(a: Path, b: Path) -> bool:
    """Two archives hold the same members with the same bytes.

    A backend that does not build reproducibly (timestamps in the archive) gives
    files whose sha256 differs while what they install is identical.
    """
    try:
        return _members(a) == _members(b)
    except (OSError, zipfile.BadZipFile, tarfile.TarError):
        return False
