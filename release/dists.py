"""A distribution file: find it, read its own metadata, hash it once, compare archives."""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.metadata import InvalidMetadata, Metadata, RawMetadata, parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .errors import DistributionError

if TYPE_CHECKING:
    from twine.package import PackageFile

CHUNK = 1024 * 1024
# Comparing two archives reads at most this many times the local file's size
# (uncompressed): a compression bomb on the index must not cost gigabytes.
INFLATE_FACTOR = 20
INFLATE_FLOOR = 64 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Dist:
    """One distribution file and what its own metadata says."""

    path: Path
    kind: str  # "wheel" or "sdist"
    name: str
    version: str
    sha256: str
    size: int
    # twine's view of the file (metadata as the index reads it, digests): made once, so
    # the check, the signature and the upload form never read the file again.
    package: PackageFile | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def filename(self) -> str:
        return self.path.name


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_version(filename: str) -> str | None:
    """The version in a distribution's file name, or None for other kinds of file."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def is_dist_name(name: str) -> bool:
    return name.endswith((".whl", ".tar.gz"))


def find_files(packages_dir: Path) -> tuple[list[Path], list[Path]]:
    """(distributions, other entries) in the packages directory; dotfiles are ignored."""
    if not packages_dir.is_dir():
        return [], []
    dists, others = [], []
    for entry in sorted(packages_dir.iterdir()):
        if entry.name.startswith("."):
            continue  # e.g. the .gitignore that some build tools write there
        if entry.is_file() and not entry.is_symlink() and is_dist_name(entry.name):
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
        "dist-metadata-missing",
        f"{path.name} has no readable metadata "
        f"({'*.dist-info/METADATA' if path.name.endswith('.whl') else 'PKG-INFO'}).",
        "The file is damaged or was not made by a standard build backend; rebuild it.",
    )


def read_metadata(path: Path) -> RawMetadata:
    """The file's core metadata; its name and version validated by packaging."""
    try:
        raw, _unparsed = parse_email(_metadata_bytes(path))
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise DistributionError(
            "dist-unreadable",
            f"{path.name} cannot be opened as a distribution: {exc}.",
            "Rebuild the file; it may have been truncated or damaged in transfer.",
        ) from None
    # Only the fields this tool relies on are validated (packaging checks a field when
    # it is read): the rest is twine check's and the index's to judge, and real files on
    # PyPI carry fields newer than their Metadata-Version.
    meta = Metadata.from_raw(raw, validate=False)
    try:
        meta.name  # noqa: B018 - reading validates
        meta.version  # noqa: B018
    except (InvalidMetadata, ExceptionGroup) as exc:
        raise DistributionError(
            "dist-metadata-invalid",
            f"{path.name}'s metadata is not valid: {exc}.",
            "Rebuild the file with a current build backend.",
        ) from None
    return raw


def read_dist(path: Path) -> Dist:
    """Open a distribution, read its name and version from its own metadata, and read
    it whole once, through twine: its metadata validated as the upload will send it,
    and its digests (sha256 and blake2b in one pass)."""
    from twine.exceptions import InvalidDistribution
    from twine.package import PackageFile

    raw = read_metadata(path)
    try:
        package = PackageFile.from_filename(str(path), comment=None)
    except InvalidDistribution as exc:
        raise DistributionError(
            "dist-metadata-invalid",
            f"{path.name}'s metadata is not valid: {exc}.",
            "The index would refuse it. Rebuild the file with a current build backend.",
        ) from None
    return Dist(
        path=path,
        kind="wheel" if path.name.endswith(".whl") else "sdist",
        name=raw["name"],
        version=raw["version"],
        sha256=package.sha2_digest or sha256_of(path),
        size=path.stat().st_size,
        package=package,
    )


class _Budget:
    """What is left to inflate while comparing archives: bytes, and members."""

    def __init__(self, limit: int, max_members: int | None = None) -> None:
        self.limit = limit
        self.left = limit
        self.members = 0
        self.max_members = max_members

    @property
    def used(self) -> int:
        return self.limit - self.left

    def member(self, skipped: int = 0) -> None:
        """One more member; ``skipped``: bytes of it inflated but not read."""
        self.members += 1
        if self.max_members is not None and self.members > self.max_members:
            raise OverflowError("archive has more members than the one compared with")
        self.spend(skipped)

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise OverflowError("archive inflates past the comparison budget")

    def digest(self, stream: Iterator[bytes]) -> str:
        h = hashlib.sha256()
        for chunk in stream:
            self.spend(len(chunk))
            h.update(chunk)
        return h.hexdigest()


def _chunks(read: Callable[[int], bytes]) -> Iterator[bytes]:
    while chunk := read(CHUNK):
        yield chunk


def _members(path: Path, budget: _Budget) -> dict[str, str]:
    """Each archive member's name and a digest of its content (times and owners ignored)."""
    out: dict[str, str] = {}
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                budget.member()
                if not info.is_dir():
                    with zf.open(info) as fh:
                        out[info.filename] = budget.digest(_chunks(fh.read))
        return out
    with tarfile.open(path, "r:gz") as tf:
        for member in tf:  # tarfile keeps each member: the count bounds the memory
            if member.isfile():
                budget.member()
                data = tf.extractfile(member)
                out[member.name] = budget.digest(_chunks(data.read) if data else iter(()))
                continue
            # Skipping a member's data in a .tar.gz still inflates it.
            budget.member(skipped=member.size)
            if member.issym() or member.islnk():
                out[member.name] = "link:" + member.linkname
    return out


def same_contents(a: Path, b: Path) -> bool:
    """Two archives hold the same members with the same bytes.

    A backend that does not build reproducibly (timestamps in the archive) gives files
    whose sha256 differs while what they install is identical. ``b`` is our own file,
    read first; an archive with its contents inflates to as many bytes in as many
    members, so reading ``a`` (the index's) stops one byte or one member past that: a
    bomb costs no more than our own file.
    """
    try:
        ours = _Budget(max(INFLATE_FLOOR, INFLATE_FACTOR * b.stat().st_size))
        mine = _members(b, ours)
        return _members(a, _Budget(ours.used, max_members=ours.members)) == mine
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, OverflowError):
        return False


def sha256sums(entries: Sequence[tuple[str, str]]) -> str:
    """The classic ``sha256sum`` format: digest, two spaces, name."""
    return "".join(f"{sha}  {name}\n" for name, sha in sorted(entries))
