"""A distribution file: find it, read its own metadata, hash it once, compare archives."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .errors import DistributionError

if TYPE_CHECKING:
    from packaging.metadata import RawMetadata

CHUNK = 1024 * 1024
# Members that record how a build ran, not what it installs: setuptools-scm (9+) writes
# the checkout's branch into the sdist's egg-info (scm_version.json), "main" from a
# branch and "HEAD" from a tag's checkout, so a release made from a branch and its re-run
# from actions/checkout would otherwise never match.
BUILD_RECORDS = re.compile(r"(^|/)[^/]+\.egg-info/scm_version\.json$")
# The most of a METADATA or PKG-INFO read: a long README is a few hundred KiB.
MAX_METADATA = 16 * 1024 * 1024
HASHERS = 2  # files hashed at once: this machine's cores, and most runners'
# Comparing two archives reads at most this many times the local file's size
# (uncompressed): a compression bomb on the index must not cost gigabytes.
INFLATE_FACTOR = 20
INFLATE_FLOOR = 64 * 1024 * 1024
# The same members can sit under other tar headers (a PAX header for a fractional time,
# another format, another padding): the index's copy may inflate this much more per
# member, and in all, than ours.
HEADER_SLACK = 4 * tarfile.BLOCKSIZE
ARCHIVE_SLACK = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Dist:
    """One distribution file and what its own metadata says."""

    path: Path
    kind: str  # "wheel" or "sdist"
    name: str
    version: str
    sha256: str
    size: int
    # Its core metadata as read (packaging's RawMetadata): the upload form is made of it.
    metadata: RawMetadata = dataclasses.field(
        default_factory=lambda: cast("RawMetadata", {}), compare=False, repr=False
    )

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def python_tag(self) -> str:
        """The upload form's ``pyversion``: a wheel's Python tag, ``source`` for an sdist."""
        if self.kind != "wheel":
            return "source"
        return self.filename[: -len(".whl")].split("-")[-3]


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


def file_project(filename: str) -> str | None:
    """The project in a distribution's file name (normalised), or None for other files."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        return parse_sdist_filename(filename)[0]
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


def _capped(fh: IO[bytes], path: Path, member: str) -> bytes:
    """A metadata member's bytes, at most MAX_METADATA of them: a 200 KB wheel can
    inflate a METADATA of gigabytes, which read whole would take that much memory."""
    data = fh.read(MAX_METADATA + 1)
    if len(data) > MAX_METADATA:
        raise DistributionError(
            "dist-metadata-too-large",
            f"{path.name}'s {member} is larger than {MAX_METADATA // (1024 * 1024)} MiB.",
            "Metadata that large is no real project's (is the long description a whole "
            "file of data?); rebuild the file.",
        )
    return data


def _metadata_bytes(path: Path) -> bytes:
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            names = [
                n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) == 1:
                with zf.open(names[0]) as member_fh:
                    return _capped(member_fh, path, names[0])
    else:
        with tarfile.open(path, "r:gz") as tf:
            for member in tf:
                if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                    fh = tf.extractfile(member)
                    if fh is not None:
                        return _capped(fh, path, member.name)
    raise DistributionError(
        "dist-metadata-missing",
        f"{path.name} has no readable metadata "
        f"({'*.dist-info/METADATA' if path.name.endswith('.whl') else 'PKG-INFO'}).",
        "The file is damaged or was not made by a standard build backend; rebuild it.",
    )


def read_metadata(path: Path) -> RawMetadata:
    """The file's core metadata; its name and version validated by packaging."""
    return _read_metadata(path)[0]


def _read_metadata(path: Path) -> tuple[RawMetadata, dict[str, list[str]]]:
    """read_metadata's, and the fields packaging could not read (``unparsed``)."""
    # Imported here (27 ms): the build starts before it is needed.
    from packaging.metadata import InvalidMetadata, Metadata, parse_email

    try:
        raw, unparsed = parse_email(_metadata_bytes(path))
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
        raise _metadata_invalid(path, exc) from None
    return raw, unparsed


def as_twine_reads_it(path: Path, raw: RawMetadata, unparsed: dict[str, list[str]]) -> None:
    """Refuse what ``twine upload`` refuses to send (twine's PackageFile, in its own
    words): a field packaging cannot read, or a field not valid; a License-File under
    Metadata-Version below 2.4 is let through, as setuptools writes it there.

    twine itself is not imported: its PackageFile, made only for this, opened each
    archive a second time and loaded modules (rich among them) that nothing else of a
    run uses."""
    from packaging.metadata import Metadata
    from packaging.version import InvalidVersion, Version

    try:
        old = Version(str(raw.get("metadata_version", "0"))) < Version("2.4")
    except InvalidVersion:
        old = False  # packaging's validation below names it
    checked = dict(raw)
    if old:
        checked.pop("license_files", None)
        unparsed = {k: v for k, v in unparsed.items() if k != "license-file"}
    if unparsed:
        reasons = "; ".join(f"unrecognized or malformed field {key!r}" for key in unparsed)
        raise _metadata_invalid(path, f"Invalid distribution metadata: {reasons}")
    try:
        Metadata.from_raw(cast("RawMetadata", checked))
    except ExceptionGroup as group:
        reasons = "; ".join(sorted(str(e) for e in group.exceptions))
        raise _metadata_invalid(path, f"Invalid distribution metadata: {reasons}") from None


def _metadata_invalid(path: Path, exc: Exception | str) -> DistributionError:
    """The one error for metadata that packaging (name, version) or twine (the whole of
    it, as the upload sends it) finds not valid."""
    return DistributionError(
        "dist-metadata-invalid",
        f"{path.name}'s metadata is not valid: {exc}.",
        "The index would refuse it. Rebuild the file with a current build backend.",
    )


def read_dists(paths: Sequence[Path]) -> list[Dist]:
    """``read_dist`` of every file, each file hashed in a thread (two at a time) while
    this one reads the metadata: hashlib and file reads let go of the GIL, so a large
    wheel's sha256 costs the run no more than its metadata's imports and checks do."""
    if not paths:
        return []
    with ThreadPoolExecutor(min(HASHERS, len(paths)), thread_name_prefix="sha256") as pool:
        sums = [pool.submit(sha256_of, path) for path in paths]
        try:
            return [read_dist(p, digest.result) for p, digest in zip(paths, sums, strict=True)]
        except BaseException:
            for digest in sums:
                digest.cancel()  # those not started; a started one runs to its end
            raise


def read_dist(path: Path, sha256: Callable[[], str] | None = None) -> Dist:
    """Open a distribution, read its name and version from its own metadata, and
    validate its metadata as the upload will send it (as_twine_reads_it); ``sha256``
    gives the file's digest (from the one whole read of it), else it is read here."""
    raw, unparsed = _read_metadata(path)
    as_twine_reads_it(path, raw, unparsed)
    return Dist(
        path=path,
        kind="wheel" if path.name.endswith(".whl") else "sdist",
        name=raw["name"],
        version=raw["version"],
        sha256=sha256() if sha256 is not None else sha256_of(path),
        size=path.stat().st_size,
        metadata=raw,
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

    def member(self) -> None:
        """One more member."""
        self.members += 1
        if self.max_members is not None and self.members > self.max_members:
            raise OverflowError("archive has more members than the one compared with")

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise OverflowError("archive inflates past the comparison budget")

    def digest(self, stream: Iterator[bytes], *, charge: bool = True) -> str:
        h = hashlib.sha256()
        for chunk in stream:
            if charge:
                self.spend(len(chunk))
            h.update(chunk)
        return h.hexdigest()


class _Metered:
    """A .tar.gz's inflated stream, for tarfile, that charges the budget for every byte
    inflated: the members' data, what a seek skips, and the headers. tarfile reads a
    GNU long name or a PAX header with one read of the size the header declares
    (2**40 from a 1 KiB file), so no read asks the inflater for more than the budget."""

    def __init__(self, raw: gzip.GzipFile, budget: _Budget) -> None:
        self.raw = raw
        self.budget = budget

    def read(self, size: int | None = -1) -> bytes:
        room = self.budget.left + 1  # one byte past the budget overflows it
        data = self.raw.read(room if size is None or size < 0 else min(size, room))
        self.budget.spend(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence not in (0, 1):
            raise ValueError("seek from the end is not supported")  # nor by gzip
        here = self.raw.tell()
        target = here + offset if whence == 1 else offset
        # Forward, gzip inflates what it skips; backward, it inflates again from the start.
        self.budget.spend(target - here if target >= here else max(target, 0))
        return self.raw.seek(target)

    def tell(self) -> int:
        return self.raw.tell()


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
    with gzip.GzipFile(path, "rb") as gz:
        metered = cast(IO[bytes], _Metered(gz, budget))  # tarfile reads, seeks and tells
        with tarfile.open(fileobj=metered, mode="r:") as tf:
            for member in tf:  # tarfile keeps each member: the count bounds the memory
                budget.member()
                if member.isfile():
                    data = tf.extractfile(member)  # its bytes are charged as they are read
                    out[member.name] = budget.digest(
                        _chunks(data.read) if data else iter(()), charge=False
                    )
                elif member.issym() or member.islnk():
                    out[member.name] = "link:" + member.linkname
    return out


def same_contents(a: Path, b: Path) -> bool:
    """Two archives hold the same members with the same bytes.

    A backend that does not build reproducibly (timestamps in the archive) gives files
    whose sha256 differs while what they install is identical. ``b`` is our own file,
    read first; an archive with its contents inflates to as many bytes in as many
    members (give or take their headers), so reading ``a`` (the index's) stops one byte
    or one member past that: a bomb costs no more than our own file. Whatever the
    archive modules raise on a damaged or hostile file means "not the same".
    """
    return differing_members(a, b) == []


def differing_members(a: Path, b: Path) -> list[str] | None:
    """The members whose bytes differ between two archives (or that only one holds),
    sorted; None when ``a`` cannot be read within ``b``'s budget (see same_contents)."""
    try:
        ours = _Budget(max(INFLATE_FLOOR, INFLATE_FACTOR * b.stat().st_size))
        mine = _members(b, ours)
        room = ours.used + HEADER_SLACK * ours.members + ARCHIVE_SLACK
        theirs = _members(a, _Budget(room, max_members=ours.members))
    except (
        OSError,  # gzip.BadGzipFile, a CRC mismatch, bz2's errors
        EOFError,
        OverflowError,  # past the budget
        ValueError,  # a malformed PAX sparse map, an offset tarfile cannot seek to
        RuntimeError,  # an encrypted zip member
        NotImplementedError,  # a zip compression method zipfile does not know
        zlib.error,
        lzma.LZMAError,
        tarfile.TarError,
        zipfile.BadZipFile,
    ):
        return None
    return sorted(
        n
        for n in mine.keys() | theirs.keys()
        if mine.get(n) != theirs.get(n) and not BUILD_RECORDS.search(n)
    )


def sha256sums(entries: Sequence[tuple[str, str]]) -> str:
    """The classic ``sha256sum`` format: digest, two spaces, name."""
    return "".join(f"{sha}  {name}\n" for name, sha in sorted(entries))
