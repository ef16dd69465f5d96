"""The index's upload rules, checked on every file before the first byte is sent.

Each rule is a small function over one file (its name, its metadata, its archive) or
over the index's project page, and gives back what PyPI's upload endpoint (warehouse,
``forklift/legacy.py`` and ``forklift/metadata.py``) would answer, in its words, with
what to change in the project. Two groups: rules that any index following the packaging
specifications applies (``ALWAYS``), and PyPI's own policy (``PYPI_POLICY``: its
classifier list, platform tags, size limits, closed releases, reserved names), which a
private index may not share. ``check`` runs them all and raises one error that lists
every broken rule of every file, so that a release is refused whole or not at all.
"""

from __future__ import annotations

import configparser
import dataclasses
import email.utils
import gzip
import os.path
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .dists import Dist, read_metadata
from .errors import DistributionError

if TYPE_CHECKING:
    from packaging.metadata import Metadata, RawMetadata

    from .simple import IndexProject

CORE_METADATA = "https://packaging.python.org/specifications/core-metadata"
ARCHIVES = "https://docs.pypi.org/archives"
MIB = 1024 * 1024
MAX_FILE_SIZE = 100 * MIB  # warehouse's MAX_FILESIZE, unless PyPI raised the project's
# A release takes no new files this long after it was made (warehouse, July 2026).
MAX_RELEASE_AGE = timedelta(days=14)
# A wheel whose members inflate past this size and this many times its own is a bomb.
RATIO_MIN_SIZE = 64 * MIB
RATIO_LIMIT = 50
# warehouse writes "<file name>.metadata" beside the wheel: a file system's 255 bytes
# leave 246 for the name; an sdist's own name must fit in 255.
MAX_NAME_BYTES = 255
METADATA_SUFFIX = len(".metadata")
SUMMARY_LIMIT = 512
LABEL_LIMIT = 32
SUPPORTED_METADATA_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"})
# The fields PEP 643 (and PEP 794) let an sdist mark Dynamic, as warehouse lists them.
DYNAMIC_FIELDS = frozenset(
    f.lower()
    for f in (
        "Platform", "Supported-Platform", "Summary", "Description", "Description-Content-Type",
        "Keywords", "Home-Page", "Download-Url", "Author", "Author-Email", "Maintainer",
        "Maintainer-Email", "License", "License-Expression", "License-File", "Classifier",
        "Requires-Dist", "Requires-Python", "Requires-External", "Project-Url",
        "Provides-Extra", "Provides-Dist", "Obsoletes-Dist", "Requires", "Provides",
        "Obsoletes", "Import-Name", "Import-Namespace",
    )
)  # fmt: skip
SMALL_MEMBER = 16 * MIB  # RECORD, WHEEL, entry_points.txt: read at most this much
# An sdist's tar stream is inflated to list its members: at most this many times the
# file's size (and at least TAR_FLOOR), so a gzip bomb costs no more.
TAR_FACTOR = 200
TAR_FLOOR = 256 * MIB


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken rule: the file (None for the release), the index's reason, the fix."""

    filename: str | None
    rule: str  # a short stable name, e.g. "platform-tag"
    reason: str  # warehouse's own words
    fix: str

    def __str__(self) -> str:
        where = f"{self.filename}: " if self.filename else ""
        return f"{where}{self.reason} Fix: {self.fix}"


@dataclasses.dataclass(frozen=True)
class Context:
    """What a rule may look at besides the file."""

    dists: Sequence[Dist]
    project: IndexProject | None
    max_file_size: int
    now: datetime


# -- reading the file ----------------------------------------------------------------------


@dataclasses.dataclass
class Archive:
    """What the rules read from one archive, read once with bounded reads."""

    names: list[str] = dataclasses.field(default_factory=list)
    small: dict[str, bytes | None] = dataclasses.field(default_factory=dict)  # None: too big
    compress_types: set[int] = dataclasses.field(default_factory=set)
    inflated: int = 0  # the members' declared sizes, added up
    framing: str | None = None  # a zip's record framing problem
    sparse: bool = False
    unreadable: str | None = None


def _wheel_stem(filename: str) -> tuple[str, str]:
    """The name and version parts of a wheel's file name, as warehouse splits it."""
    parts = filename.split("-", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else (filename, "")


def _read_zip(path: Path) -> Archive:
    name, version = _wheel_stem(path.name)
    wanted = {f"{name}-{version}.dist-info/{n}" for n in ("RECORD", "WHEEL", "entry_points.txt")}
    out = Archive()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        out.names = [i.filename for i in infos]
        out.compress_types = {i.compress_type for i in infos}
        out.inflated = sum(i.file_size for i in infos)
        for info in infos:
            if info.filename in wanted:
                try:
                    with zf.open(info) as fh:
                        data: bytes | None = fh.read(SMALL_MEMBER + 1)
                except (NotImplementedError, RuntimeError):  # a method zipfile lacks
                    data = None
                out.small[info.filename] = (
                    None if data is None or len(data) > SMALL_MEMBER else data
                )
    with path.open("rb") as fh:
        out.framing = zip_framing(fh)
    return out


class _Metered:
    """A gzip stream that refuses to inflate more than ``budget`` bytes in all."""

    def __init__(self, raw: gzip.GzipFile, budget: int) -> None:
        self.raw, self.left = raw, budget

    def read(self, size: int = -1) -> bytes:
        want = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        data = self.raw.read(want)
        self.left -= len(data)
        if self.left < 0:
            raise OverflowError
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        here = self.raw.tell()
        target = here + offset if whence == 1 else offset
        self.left -= abs(target - here) if target >= here else target
        if self.left < 0 or whence not in (0, 1):
            raise OverflowError
        return self.raw.seek(target)

    def tell(self) -> int:
        return self.raw.tell()


def _read_tar(path: Path) -> Archive:
    out = Archive()
    budget = max(TAR_FLOOR, TAR_FACTOR * path.stat().st_size)
    with gzip.GzipFile(path, "rb") as gz:
        stream = cast(IO[bytes], _Metered(gz, budget))
        with tarfile.open(fileobj=stream, mode="r:") as tf:
            for member in tf:
                out.names.append(member.name)
                out.sparse = out.sparse or member.issparse()
                out.inflated += member.size
    return out


def read_archive(path: Path) -> Archive:
    """The archive's listing and the few members the rules read; what cannot be read
    is said in ``unreadable``."""
    try:
        return _read_zip(path) if path.name.endswith(".whl") else _read_tar(path)
    except OverflowError:
        return Archive(unreadable="the archive inflates past what this check reads")
    except (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile, tarfile.TarError):
        return Archive(unreadable="the archive cannot be read")


SUPPORTED_ZIP = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_LOCAL, _CENTRAL, _EOCD = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_EOCD64, _LOCATOR = b"PK\x06\x06", b"PK\x06\x07"


def zip_framing(fh: IO[bytes]) -> str | None:
    """What warehouse's record-by-record walk of a zip refuses (its
    ``utils/zipfiles.py``: the records must say what the central directory says, so
    that a streaming reader and a central-directory reader see the same files), in its
    words; None when the framing is sound. Reads headers only."""
    size = fh.seek(0, os.SEEK_END)
    fh.seek(0)
    local: set[bytes] = set()
    central: set[bytes] = set()

    def read(n: int) -> bytes:
        data = fh.read(n)
        if len(data) != n:
            raise ValueError("Malformed zip file")
        return data

    try:
        while True:
            sig = read(4)
            if sig == _LOCAL:
                flags, _m, csize, _usize, nlen, xlen = struct.unpack("<xxHHxxxxxxxxLLHH", read(26))
                name = read(nlen)
                read(xlen)
                if flags & 0x08:
                    return "ZIP contains a data descriptor"
                if name in local:
                    return "Duplicate filename in local headers"
                local.add(name)
                if csize == 0xFFFFFFFF:
                    return None  # ZIP64 sizes: left to the index, as rare as they are
                fh.seek(csize, os.SEEK_CUR)
            elif sig == _CENTRAL:
                nlen, xlen, clen = struct.unpack("<HHH", read(42)[24:30])
                if clen:
                    return "Comment in central directory"
                name = read(nlen)
                read(xlen)
                if name in central:
                    return "Duplicate filename in central directory"
                if name not in local:
                    return "Missing filename in local headers"
                central.add(name)
            elif sig == _EOCD:
                (comment,) = struct.unpack("<H", read(18)[16:18])
                read(comment)
                break
            elif sig in (_EOCD64, _LOCATOR):
                (rest,) = struct.unpack("<Q", read(8)) if sig == _EOCD64 else (12,)
                fh.seek(rest if sig == _EOCD64 else 16, os.SEEK_CUR)
            else:
                return "Unknown record signature"
    except (ValueError, struct.error):
        return "Malformed zip file"
    return "Trailing data" if fh.tell() != size else None


# -- the rules -----------------------------------------------------------------------------

FileRule = Callable[[Dist, "RawMetadata", Archive, Context], Iterator[Violation]]


def _v(dist: Dist, rule: str, reason: str, fix: str) -> Violation:
    return Violation(dist.filename, rule, reason, fix)


def normalized_filename(
    dist: Dist, raw: RawMetadata, _a: Archive, _c: Context
) -> Iterator[Violation]:
    """PEP 427 / PEP 625: the file name starts with the normalized project name."""
    expected_name = canonicalize_name(raw["name"]).replace("-", "_")
    rebuild = (
        "Publish the file under the name a current build backend gives it (rebuild it "
        "with the backend's current version; do not rename files by hand)."
    )
    if dist.kind == "wheel":
        try:
            parse_wheel_filename(dist.filename)
        except InvalidWheelFilename as exc:
            yield _v(dist, "filename", str(exc), rebuild)
            return
        given = dist.filename.split("-", 1)[0]
        if given != expected_name:
            yield _v(
                dist,
                "filename",
                f"Filename {dist.filename!r} should contain the normalized project name "
                f"{expected_name!r}, not {given!r}.",
                rebuild,
            )
        return
    try:
        parse_sdist_filename(dist.filename)
    except InvalidSdistFilename:
        yield _v(
            dist, "filename", f"Invalid source distribution filename: {dist.filename}", rebuild
        )
        return
    from packaging.version import InvalidVersion, Version

    try:
        version = str(Version(raw["version"]))
    except InvalidVersion:
        return  # refused by the metadata rule
    expected = f"{expected_name}-{version}.tar.gz"
    if dist.filename != expected:
        yield _v(
            dist,
            "filename",
            f"Filename {dist.filename!r} is invalid, should be {expected!r}.",
            rebuild,
        )


def filename_length(dist: Dist, _r: RawMetadata, _a: Archive, _c: Context) -> Iterator[Violation]:
    """The name must fit the index's file system (with ".metadata" added for a wheel)."""
    room = MAX_NAME_BYTES - (METADATA_SUFFIX if dist.kind == "wheel" else 0)
    if len(dist.filename.encode()) > room:
        yield _v(
            dist,
            "filename-length",
            f"Filename is too long: '{dist.filename}'",
            f"Keep the file name within {room} bytes: fewer tags in the wheel's name, or "
            "a shorter version.",
        )


def _metadata_reasons(raw: RawMetadata) -> list[str]:
    """packaging's validation of every field, then warehouse's own rules on top."""
    import email_validator
    from packaging.metadata import InvalidMetadata, Metadata
    from packaging.requirements import InvalidRequirement, Requirement

    reasons: list[str] = []
    try:
        meta: Metadata = Metadata.from_raw(raw, validate=True)
    except ExceptionGroup as group:
        for exc in group.exceptions:
            reasons.append(str(exc) if isinstance(exc, InvalidMetadata) else repr(exc))
        return reasons  # the fields packaging refused cannot be read on
    if meta.metadata_version not in SUPPORTED_METADATA_VERSIONS:
        reasons.append(f"{meta.metadata_version!r} is not a valid metadata version")
    if meta.summary is not None and len(meta.summary) > SUMMARY_LIMIT:
        reasons.append(f"'summary' field must be {SUMMARY_LIMIT} characters or less.")
    for field in ("author_email", "maintainer_email"):
        value = getattr(meta, field)
        if value is None:
            continue
        _, address = email.utils.parseaddr(value)
        if address:
            try:
                email_validator.validate_email(address, check_deliverability=False)
            except email_validator.EmailNotValidError as exc:
                reasons.append(f"{address!r} is not a valid email address: {exc}")
    for field in ("home_page", "download_url"):
        url = getattr(meta, field)
        if url is not None and not valid_url(url):
            reasons.append(f"{url!r} is not a valid url.")
    for label, url in (meta.project_urls or {}).items():
        if not label:
            reasons.append("Must have a label")
        elif len(label) > LABEL_LIMIT:
            reasons.append(f"{label!r} must be {LABEL_LIMIT} characters or less.")
        elif not url:
            reasons.append("Must have a URL")
        elif not valid_url(url):
            reasons.append(f"{url!r} is not a valid url")
    for field in ("provides_dist", "obsoletes_dist"):
        for text in getattr(meta, field) or []:
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                reasons.append(f"{text!r} is invalid: {exc}")
                continue
            if req.url is not None:
                reasons.append(f"Can't have direct dependency: {text!r}")
    for requirement in meta.requires_dist or []:
        if requirement.url is not None:
            reasons.append(f"Can't have direct dependency: {requirement}")
    for key in meta.dynamic or []:
        if key.lower() not in DYNAMIC_FIELDS:
            reasons.append(f"Dynamic field {key!r} is not a valid dynamic field.")
    if meta.license and meta.license_expression:
        reasons.append(
            "License is deprecated when License-Expression is present. "
            "Only License-Expression should be present."
        )
    return reasons


def valid_url(url: str) -> bool:
    """An http(s) URL, as warehouse's ``is_valid_uri(require_authority=False)`` sees it."""
    from rfc3986 import (  # type: ignore[import-untyped]
        exceptions,
        uri_reference,
        validators,
    )

    validator = (
        validators.Validator()
        .allow_schemes("http", "https")
        .require_presence_of("scheme")
        .check_validity_of("scheme", "host", "port", "path", "query")
    )
    try:
        validator.validate(uri_reference(url).normalize())
    except exceptions.ValidationError:
        return False
    return True


def _metadata_fix(reason: str) -> str:
    fixes = (
        ("metadata version", "Build with a backend (or a version of it) that writes "
         "Metadata-Version 2.5 or older; the index does not take newer yet."),
        ("License is deprecated", "Drop the license table/classic license text and keep "
         "only the SPDX expression ([project] license = \"...\")."),
        ("direct dependency", "Depend on a released project by name and version "
         "specifier; an index takes no URL dependencies."),
        ("Dynamic field", "List only fields the backend may fill in later under "
         "Dynamic."),
        ("email address", "Give a valid e-mail address in [project] authors/maintainers."),
        ("characters or less", "Shorten the field in pyproject.toml."),
        ("valid url", "Give a full http:// or https:// URL in [project.urls]."),
    )  # fmt: skip
    for marker, fix in fixes:
        if marker in reason:
            return fix
    return f"Correct the field in the project's metadata and rebuild (see {CORE_METADATA})."


def valid_metadata(dist: Dist, raw: RawMetadata, _a: Archive, _c: Context) -> Iterator[Violation]:
    """Core metadata as packaging validates it, plus warehouse's own metadata rules."""
    for reason in _metadata_reasons(raw):
        yield _v(dist, "metadata", reason, _metadata_fix(reason))


def archive_readable(
    dist: Dist, _r: RawMetadata, archive: Archive, _c: Context
) -> Iterator[Violation]:
    if archive.unreadable:
        yield _v(
            dist,
            "archive",
            f"Invalid distribution file: {archive.unreadable}.",
            "Rebuild the file with a standard build backend.",
        )


def zip_members(dist: Dist, _r: RawMetadata, archive: Archive, _c: Context) -> Iterator[Violation]:
    """Members stored or deflated, records framed as the central directory says."""
    if dist.kind != "wheel" or archive.unreadable:
        return
    rebuild = "Rebuild the wheel with a standard build backend (or `wheel pack`)."
    if archive.compress_types - SUPPORTED_ZIP:
        yield _v(
            dist,
            "zip-compression",
            "Invalid distribution file. File does not use a supported compression type",
            rebuild + " Members must be stored or deflated.",
        )
    if archive.framing:
        yield _v(
            dist,
            "zip-framing",
            f"Invalid distribution file. ZIP archive not accepted: {archive.framing}. "
            f"See {ARCHIVES} for more information",
            rebuild + " Do not append to, comment or stream-write the archive.",
        )


def wheel_contents(
    dist: Dist, raw: RawMetadata, archive: Archive, _c: Context
) -> Iterator[Violation]:
    """WHEEL, METADATA and RECORD where the file's name says; valid entry points."""
    if dist.kind != "wheel" or archive.unreadable:
        return
    name, version = _wheel_stem(dist.filename)
    info = f"{name}-{version}.dist-info"
    names = set(archive.names)
    rebuild = "Rebuild the wheel with a standard build backend; do not rename it by hand."
    if f"{info}/WHEEL" not in names:
        yield _v(
            dist,
            "wheel-file",
            f"Invalid distribution file. WHEEL not found at {info}/WHEEL",
            rebuild,
        )
    if f"{info}/METADATA" not in names:
        yield _v(
            dist,
            "wheel-metadata",
            f"Wheel '{dist.filename}' does not contain the required METADATA file: {info}/METADATA",
            rebuild,
        )
    if f"{info}/RECORD" not in names or not _record_readable(archive.small.get(f"{info}/RECORD")):
        yield _v(
            dist,
            "wheel-record",
            f"Wheel '{dist.filename}' does not contain the required RECORD file: {info}/RECORD",
            rebuild,
        )
    if f"{info}/entry_points.txt" in names and not _entry_points_valid(
        archive.small.get(f"{info}/entry_points.txt")
    ):
        yield _v(
            dist,
            "entry-points",
            f"Wheel '{dist.filename}' has invalid entry points defined in the "
            "entry_points.txt file",
            "Name each console/GUI script with letters, digits, '.', '_' and '-' only, "
            "and keep entry_points.txt a valid INI file ('name = module:object').",
        )


def _record_readable(data: bytes | None) -> bool:
    import csv

    if data is None:
        return False
    try:
        list(csv.reader(data.decode().splitlines()))
    except (UnicodeError, csv.Error):
        return False
    return True


ENTRY_POINT_NAME = re.compile(r"[\w.-]+")


def _entry_points_valid(data: bytes | None) -> bool:
    if data is None:
        return False
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(data.decode())
    except (UnicodeError, configparser.Error):
        return False
    return all(
        ENTRY_POINT_NAME.fullmatch(name)
        for section in ("console_scripts", "gui_scripts")
        if parser.has_section(section)
        for name in parser[section]
    )


def sdist_contents(
    dist: Dist, _r: RawMetadata, archive: Archive, _c: Context
) -> Iterator[Violation]:
    """One top-level directory with PKG-INFO in it; no sparse members."""
    if dist.kind != "sdist" or archive.unreadable:
        return
    rebuild = "Rebuild the sdist with a standard build backend (python -m build --sdist)."
    if archive.sparse:
        yield _v(
            dist,
            "tar-sparse",
            "Invalid distribution file. tar archive not accepted: Sparse members are not "
            f"allowed. See {ARCHIVES} for more information",
            rebuild,
        )
    top = _commonpath(archive.names)
    if top in (".", "/", ""):
        yield _v(
            dist,
            "sdist-layout",
            "Invalid distribution file. Incorrect number of top-level directories in sdist",
            rebuild,
        )
    elif os.path.join(top, "PKG-INFO") not in {n.rstrip("/") for n in archive.names}:
        yield _v(
            dist,
            "sdist-layout",
            f"Invalid distribution file. PKG-INFO not found at {top}/PKG-INFO",
            rebuild,
        )


def _commonpath(names: Sequence[str]) -> str:
    try:
        return os.path.commonpath(names) if names else ""
    except ValueError:  # absolute and relative names mixed
        return ""


def license_files(
    dist: Dist, raw: RawMetadata, archive: Archive, _c: Context
) -> Iterator[Violation]:
    """Every License-File the metadata declares is in the archive (PEP 639)."""
    if archive.unreadable:
        return
    names = {n.rstrip("/") for n in archive.names}
    if dist.kind == "wheel":
        name, version = _wheel_stem(dist.filename)
        where = f"{name}-{version}.dist-info/licenses/"
    else:
        where = _commonpath(archive.names) + "/"
    for declared in raw.get("license_files") or []:
        target = os.path.join(where, declared)
        if target not in names:
            yield _v(
                dist,
                "license-file",
                f"License-File {declared} does not exist in distribution file "
                f"{dist.filename} at {target}",
                "List in [project] license-files only files that exist (the globs are "
                "relative to pyproject.toml), and rebuild with a backend that supports "
                "PEP 639.",
            )


# -- PyPI's policy -------------------------------------------------------------------------


def classifiers(dist: Dist, raw: RawMetadata, _a: Archive, _c: Context) -> Iterator[Violation]:
    """Classifiers from trove-classifiers' list, none deprecated."""
    from trove_classifiers import all_classifiers, deprecated_classifiers

    given = set(raw.get("classifiers") or [])
    fix = "Use classifiers from https://pypi.org/classifiers/ only."
    for c in sorted(given - set(all_classifiers)):
        yield _v(dist, "classifier", f"{c!r} is not a valid classifier.", fix)
    for c in sorted(given & deprecated_classifiers.keys()):
        instead = deprecated_classifiers[c]
        reason = f"The classifier {c!r} has been deprecated"
        yield _v(
            dist,
            "classifier",
            f"{reason}, use one of {instead} instead." if instead else f"{reason}.",
            f"Replace it{' as it says' if instead else ' or drop it'}.",
        )


def platform_tags(dist: Dist, _r: RawMetadata, _a: Archive, _c: Context) -> Iterator[Violation]:
    """Only platform tags PyPI takes: those with an ABI spec (manylinux, musllinux,
    macOS, Windows, iOS, Android, Pyodide), not a build machine's own (linux_x86_64)."""
    if dist.kind != "wheel":
        return
    try:
        tags = parse_wheel_filename(dist.filename)[3]
    except InvalidWheelFilename:
        return  # refused by the file name rule
    for platform in sorted({t.platform for t in tags}):
        if not valid_platform_tag(platform):
            yield _v(
                dist,
                "platform-tag",
                f"Binary wheel '{dist.filename}' has an unsupported platform tag '{platform}'.",
                "Repair the wheel for a portable platform (auditwheel repair gives "
                "manylinux/musllinux wheels; cibuildwheel does it for you), or publish "
                "the sdist only.",
            )


_PLATFORMS = frozenset({
    "any", "win32", "win_arm64", "win_amd64", "win_ia64", "manylinux1_x86_64",
    "manylinux1_i686", "manylinux2010_x86_64", "manylinux2010_i686", "manylinux2014_x86_64",
    "manylinux2014_i686", "manylinux2014_aarch64", "manylinux2014_armv7l",
    "manylinux2014_ppc64", "manylinux2014_ppc64le", "manylinux2014_s390x", "linux_armv6l",
    "linux_armv7l",
})  # fmt: skip
_MACOS = re.compile(r"macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>.*)")
_MACOS_ARCHES = frozenset({"ppc", "ppc64", "i386", "x86_64", "arm64", "intel", "fat", "fat3",
                           "fat64", "universal", "universal2"})  # fmt: skip
_MACOS_MAJORS = frozenset({"11", "12", "13", "14", "15", "26"})
_LINUX = re.compile(r"(?P<libc>many|musl)linux_\d+_\d+_(?P<arch>.*)")
_LINUX_ARCHES = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"})
_IOS = re.compile(r"ios_\d+_\d+_(?P<arch>.*)_(iphoneos|iphonesimulator)")
_ANDROID = re.compile(r"android_\d+_(?P<arch>.*)")
_EMSCRIPTEN = re.compile(r"pyemscripten_\d+_\d+_wasm32")


def valid_platform_tag(platform: str) -> bool:
    """warehouse's ``_valid_platform_tag`` (forklift/legacy.py)."""
    if platform in _PLATFORMS:
        return True
    if m := _MACOS.match(platform):
        arch_ok = m["arch"] in _MACOS_ARCHES
        if arch_ok and (m["major"] == "10" or (m["major"] in _MACOS_MAJORS and m["minor"] == "0")):
            return True
    if m := _LINUX.match(platform):
        return m["arch"] in (_LINUX_ARCHES | {"ppc64"} if m["libc"] == "many" else _LINUX_ARCHES)
    if (m := _IOS.match(platform)) and m["arch"] in {"arm64", "x86_64"}:
        return True
    if (m := _ANDROID.match(platform)) and m["arch"] in {
        "armeabi_v7a",
        "arm64_v8a",
        "x86",
        "x86_64",
    }:
        return True
    return _EMSCRIPTEN.match(platform) is not None


def file_size(dist: Dist, raw: RawMetadata, _a: Archive, ctx: Context) -> Iterator[Violation]:
    if dist.size > ctx.max_file_size:
        yield _v(
            dist,
            "file-size",
            f"File too large. Limit for project {raw['name']!r} is {_limit(ctx.max_file_size)}. See https://docs.pypi.org/project-management/"
            "storage-limits#requesting-a-file-size-limit-increase for more information.",
            "Make the file smaller (leave tests, data and debug symbols out), or ask PyPI "
            "for a larger limit and set {max-file-size} to it.",
        )


def _limit(size: int) -> str:
    """A size limit as warehouse words it (whole MiB, which it calls MB), else in bytes."""
    return f"{size // MIB} MB" if size % MIB == 0 else f"{size} bytes"


def compression_ratio(
    dist: Dist, _r: RawMetadata, archive: Archive, _c: Context
) -> Iterator[Violation]:
    if dist.kind != "wheel" or archive.unreadable:
        return
    if archive.inflated > RATIO_MIN_SIZE and archive.inflated / max(dist.size, 1) > RATIO_LIMIT:
        yield _v(
            dist,
            "compression-ratio",
            f"Invalid distribution file. File exceeds compression ratio of {RATIO_LIMIT}",
            "Leave out the large, highly compressible data (generate it at run time or "
            "ship it compressed).",
        )


ALWAYS: tuple[FileRule, ...] = (
    normalized_filename,
    filename_length,
    valid_metadata,
    archive_readable,
    zip_members,
    wheel_contents,
    sdist_contents,
    license_files,
)
PYPI_POLICY: tuple[FileRule, ...] = (classifiers, platform_tags, file_size, compression_ratio)


# -- rules over the release and the index's page -------------------------------------------


def one_sdist(ctx: Context) -> Iterator[Violation]:
    """The index already has another sdist of this version."""
    if ctx.project is None:
        return
    for dist in ctx.dists:
        if dist.kind != "sdist":
            continue
        from packaging.version import InvalidVersion, Version

        try:
            on_index = ctx.project.files_for(Version(dist.version))
        except InvalidVersion:
            continue
        others = sorted(
            name
            for name in on_index
            if name != dist.filename and name.endswith((".tar.gz", ".zip"))
        )
        if others:
            yield Violation(
                dist.filename,
                "one-sdist",
                "Only one sdist may be uploaded per release.",
                f"The index already has {', '.join(others)} for this version: publish "
                "that one or none, or release a new version.",
            )


@cache
def stdlib_names() -> frozenset[str]:
    """Every module name (and each dotted prefix) in any Python version's standard
    library, normalized: warehouse's reserved names (``STDLIB_PROHIBITED``)."""
    import stdlib_list

    names = set()
    for version in stdlib_list.short_versions:
        for module in stdlib_list.stdlib_list(version):
            parts = module.split(".")
            for i in range(len(parts)):
                names.add(canonicalize_name(".".join(parts[: i + 1]).strip("-_.")))
    return frozenset(names)


def stdlib_name(ctx: Context) -> Iterator[Violation]:
    """A new project may not be named like a standard-library module."""
    new = ctx.project is None or not (ctx.project.files or ctx.project.versions)
    if not new or not ctx.dists:
        return
    name = ctx.dists[0].name
    if canonicalize_name(name) in stdlib_names():
        yield Violation(
            None,
            "stdlib-name",
            f"The name {name!r} isn't allowed (conflict with Python Standard Library "
            "module name). See https://pypi.org/help/#project-name for more information.",
            "Choose another project name ([project] name in pyproject.toml).",
        )


def release_age(ctx: Context) -> Iterator[Violation]:
    """A release older than 14 days takes no new files (the index's first upload of the
    version, PEP 700 upload-time, stands for the release's creation)."""
    if ctx.project is None or not ctx.dists:
        return
    from packaging.version import InvalidVersion, Version

    try:
        on_index = ctx.project.files_for(Version(ctx.dists[0].version))
    except InvalidVersion:
        return
    times = [f.upload_time for f in on_index.values() if f.upload_time is not None]
    missing = [d.filename for d in ctx.dists if d.filename not in on_index]
    if not times or not missing or ctx.now - min(times) <= MAX_RELEASE_AGE:
        return
    for filename in missing:
        yield Violation(
            filename,
            "release-age",
            "Uploading new files to releases older than 14 days is not allowed.",
            f"The index made this release on {min(times):%Y-%m-%d}: publish these files "
            "under a new version (a post-release, e.g. .post1), or leave them out.",
        )


def violations(
    dists: Sequence[Dist],
    project: IndexProject | None,
    *,
    pypi_policy: bool,
    max_file_size: int | None = None,
    now: datetime,
    metadata: Callable[[Path], RawMetadata] = read_metadata,
) -> list[Violation]:
    """Every broken rule of every file, in the files' order, then the release's."""
    ctx = Context(dists, project, max_file_size or MAX_FILE_SIZE, now)
    rules = ALWAYS + (PYPI_POLICY if pypi_policy else ())
    found: list[Violation] = []
    for dist in dists:
        raw = dist.metadata or metadata(dist.path)  # read once, when the Dist was made
        archive = read_archive(dist.path)
        for rule in rules:
            found.extend(rule(dist, raw, archive, ctx))
    found.extend(one_sdist(ctx))
    if pypi_policy:
        found.extend(stdlib_name(ctx))
        found.extend(release_age(ctx))
    return found


def check(
    dists: Sequence[Dist],
    project: IndexProject | None,
    *,
    pypi_policy: bool,
    max_file_size: int | None = None,
    now: datetime,
    skip_existing: bool = False,
) -> list[Violation]:
    """Raise one error naming every upload rule the files break.

    With ``skip_existing``, a file that a release older than 14 days cannot take is no
    error: its violation is returned, for the caller to leave the file out with a
    warning (as a file the index has with other content is skipped)."""
    found = violations(
        dists, project, pypi_policy=pypi_policy, max_file_size=max_file_size, now=now
    )
    tolerated = [v for v in found if skip_existing and v.rule == "release-age"]
    found = [v for v in found if v not in tolerated]
    if not found:
        return tolerated
    raise DistributionError(
        "upload-rules",
        f"The index would refuse this release ({len(found)} broken upload "
        f"rule{'s' if len(found) > 1 else ''}); nothing was uploaded:\n"
        + "\n".join(f"- {v}" for v in found),
        "Each line gives the index's own answer and what to change in the project. Fix "
        "them all and release again"
        + (
            "; an index that does not apply PyPI's policy (classifiers, platform tags, "
            "sizes, release age) can be told so with {pypi-rules=false}."
            if pypi_policy
            else "."
        ),
    )
