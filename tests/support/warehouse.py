"""A stand-in for PyPI's upload endpoint's refusals (warehouse ``forklift/legacy.py``
``file_upload``, ``forklift/metadata.py``, ``forklift/forms.py``, ``utils/zipfiles.py``,
``utils/wheel.py``), written from those sources' behaviour, not from the action's own
rules module, so that a rule the action misses fails a test.

``refusal(fields, content, state)`` reads an upload form as warehouse reads it and gives
the first refusal warehouse would answer, ``(400, message)``, in warehouse's order and
words, or None when it would take the file. The message is what warehouse puts in the
status line and the body (``_exc_with_message``). ``Ledger`` keeps what the index took
(projects, releases with their creation time, files), so that the 14-day rule, one
sdist per release, a new project's reserved names and the "already there" answer apply.

Not played: the description rendering (twine check's business), YARA scans, rate
limits, organisations, accounts, the total project size.
"""

from __future__ import annotations

import configparser
import csv
import dataclasses
import email.parser
import email.policy
import email.utils
import hashlib
import io
import os.path
import re
import struct
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import email_validator
import packaging.metadata as pm
import packaging.utils
import packaging.version
import stdlib_list
from packaging.requirements import InvalidRequirement, Requirement
from rfc3986 import exceptions as uri_exceptions
from rfc3986 import uri_reference, validators
from trove_classifiers import all_classifiers, deprecated_classifiers

ONE_MIB = 1024 * 1024
MAX_FILESIZE = 100 * ONE_MIB
CORE = "https://packaging.python.org/specifications/core-metadata"
DOCS = "https://docs.pypi.org"
DAY = 86400.0
PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.I | re.A)
HEX64 = re.compile(r"^[A-F0-9]{64}$", re.I)
METADATA_VERSIONS = {"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"}
DYNAMIC = {
    s.lower()
    for s in (  # noqa: SIM905
        "Platform Supported-Platform Summary Description Description-Content-Type "
        "Keywords Home-Page Download-Url Author Author-Email Maintainer Maintainer-Email "
        "License License-Expression License-File Classifier Requires-Dist Requires-Python "
        "Requires-External Project-Url Provides-Extra Provides-Dist Obsoletes-Dist Requires "
        "Provides Obsoletes Import-Name Import-Namespace"
    ).split()
}
FORM_TO_RAW = {
    {
        "platforms": "platform",
        "supported_platforms": "supported_platform",
        "license_files": "license_file",
        "import_names": "import_name",
        "import_namespaces": "import_namespace",
    }.get(k, k): k
    for k in pm._RAW_TO_EMAIL_MAPPING
}
ERROR_ORDER = ["metadata-version", "name", "version"]


class Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass
class Content:
    filename: str
    content_type: str | None
    data: bytes


class Form:
    """A multipart form as webob's MultiDict: every value of a name, in order."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.items if k == name]

    def get(self, name: str) -> str | None:
        values = self.getall(name)
        return values[-1] if values else None  # webob: the last one

    def first(self, name: str) -> str | None:
        values = self.getall(name)
        return values[0] if values else None  # wtforms: the first one

    def names(self) -> set[str]:
        return {k for k, _ in self.items}


def parse_form(content_type: str, body: bytes) -> tuple[Form, Content | None]:
    """The form's text fields and its ``content`` file part."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.HTTP)
    head = parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode())
    marker = (
        head.get_param("boundary") if head.get_content_type() == "multipart/form-data" else None
    )
    items: list[tuple[str, str]] = []
    content = None
    if isinstance(marker, str) and marker:
        for section in (b"\r\n" + body).split(b"\r\n--" + marker.encode())[1:]:
            if section.startswith(b"--"):
                break
            raw_head, _, value = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
            headers = parser.parsebytes(raw_head + b"\r\n\r\n")
            params = getattr(headers.get("Content-Disposition"), "params", {})
            if "name" not in params:
                continue
            if params.get("filename") is not None:
                if params["name"] == "content":
                    content = Content(params["filename"], headers.get("Content-Type"), value)
                continue
            items.append((params["name"], value.decode("utf-8", "replace")))
    return Form(items), content


@dataclasses.dataclass
class FileRecord:
    filename: str
    sha256: str
    blake2_256: str
    packagetype: str


@dataclasses.dataclass
class ReleaseState:
    created: float
    files: dict[str, FileRecord] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ProjectState:
    name: str
    releases: dict[str, ReleaseState] = dataclasses.field(default_factory=dict)
    upload_limit: int = MAX_FILESIZE

    def find(self, filename: str, blake2_256: str) -> FileRecord | None:
        for release in self.releases.values():
            for f in release.files.values():
                if f.filename == filename or f.blake2_256 == blake2_256:
                    return f
        return None


class Ledger:
    """What the index holds, as the stand-in knows it (thread-safe)."""

    def __init__(self) -> None:
        self.projects: dict[str, ProjectState] = {}
        self.lock = threading.Lock()

    def project(self, name: str) -> ProjectState | None:
        return self.projects.get(packaging.utils.canonicalize_name(name))

    def add_release(self, name: str, version: str, created: float) -> ReleaseState:
        """A release made at ``created`` (epoch seconds), e.g. one 15 days old."""
        key = packaging.utils.canonicalize_name(name)
        project = self.projects.setdefault(key, ProjectState(name))
        canonical = packaging.utils.canonicalize_version(version)
        return project.releases.setdefault(canonical, ReleaseState(created))

    def record(self, form: Form, content: Content, now: float) -> None:
        name, version = form.first("name") or "", form.first("version") or ""
        release = self.add_release(name, version, now)
        release.files[content.filename] = FileRecord(
            content.filename,
            hashlib.sha256(content.data).hexdigest(),
            hashlib.blake2b(content.data, digest_size=32).hexdigest(),
            form.first("filetype") or "",
        )


def _stdlib() -> set[str]:
    names = set()
    for version in stdlib_list.short_versions:
        for module in stdlib_list.stdlib_list(version):
            parts = module.split(".")
            for i in range(len(parts)):
                names.add(
                    packaging.utils.canonicalize_name(
                        ".".join(parts[: i + 1]).rstrip("-_.").lstrip("-_.")
                    )
                )
    return names


STDLIB = _stdlib()


def refusal(
    form: Form,
    content: Content | None,
    ledger: Ledger,
    *,
    now: float,
    help_url: str = "https://pypi.org/help/",
) -> tuple[int, str] | None:
    """Warehouse's first refusal of this upload, or None when it takes it (or already
    has this very file)."""
    try:
        _file_upload(form, content, ledger, now=now, help_url=help_url)
    except Refused as exc:
        return exc.status, exc.message
    return None


def _file_upload(
    form: Form, content: Content | None, ledger: Ledger, *, now: float, help_url: str
) -> None:
    if form.get("protocol_version") not in (None, "1"):
        raise Refused("Unknown protocol version.")
    # decorators.sanitize: distutils' "UNKNOWN" placeholders are dropped.
    form = Form([(k, v) for k, v in form.items if (form.get(k) or "").strip() != "UNKNOWN"])
    _upload_form(form)
    meta = _metadata(form)
    if content is None:
        raise Refused("Upload payload does not have a file.")
    name = form.first("name") or ""
    with ledger.lock:
        project = ledger.project(name)
        if project is None and packaging.utils.canonicalize_name(name) in STDLIB:
            raise Refused(
                f"The name {name!r} isn't allowed (conflict with Python Standard Library "
                f"module name). See {help_url}#project-name for more information."
            )
        project_name = project.name if project else name
        limit = project.upload_limit if project else MAX_FILESIZE
        release = (
            project.releases.get(packaging.utils.canonicalize_version(meta.version))
            if project
            else None
        )
        filename = content.filename
        _filename(filename, form.first("filetype") or "")
        if not content.content_type or content.content_type.startswith("image/"):
            raise Refused("Invalid distribution file.")
        if len(content.data) > limit:
            raise Refused(
                f"File too large. Limit for project {project_name!r} is {limit // ONE_MIB} MB. "
                f"See {DOCS}/project-management/storage-limits#requesting-a-file-size-limit-"
                "increase for more information."
            )
        sha256 = hashlib.sha256(content.data).hexdigest()
        blake2 = hashlib.blake2b(content.data, digest_size=32).hexdigest()
        digests = {"md5_digest": hashlib.md5(content.data).hexdigest(),  # noqa: S324
                   "sha256_digest": sha256, "blake2_256_digest": blake2}  # fmt: skip
        for field, value in digests.items():
            sent = form.first(field)
            if sent and sent.lower() != value:
                raise Refused(
                    "The digest supplied does not match a digest calculated from the uploaded file."
                )
        existing = project.find(filename, blake2) if project else None
        if existing is not None:
            if existing.filename == filename and existing.sha256 == sha256:
                return  # the same file again: 200, nothing done
            raise Refused(
                f"File already exists ({filename!r}, with blake2_256 hash {blake2!r}). "
                f"See {help_url}#file-name-reuse for more information."
            )
        if release is not None and release.created < now - 14 * DAY:
            raise Refused("Uploading new files to releases older than 14 days is not allowed.")
        if (
            form.first("filetype") == "sdist"
            and release is not None
            and any(f.packagetype == "sdist" for f in release.files.values())
        ):
            raise Refused("Only one sdist may be uploaded per release.")
    problem = _dist_file(filename, content.data)
    if problem is not None:
        raise Refused(
            f"Invalid distribution file. {problem}" if problem else "Invalid distribution file."
        )
    if filename.endswith(".tar.gz"):
        _sdist(filename, content.data, meta, project_name)
    if filename.endswith(".whl"):
        _wheel(filename, content.data, meta, project_name)


def _upload_form(form: Form) -> None:
    """forms.UploadForm: the first failing field in warehouse's order of fields."""
    errors: dict[str, str] = {}
    name = form.first("name")
    if not name:
        errors["name"] = "This field is required."
    elif not PROJECT_NAME.match(name):
        errors["name"] = (
            "Start and end with a letter or numeral containing only ASCII numeric and "
            "'.', '_' and '-'."
        )
    filetype = form.first("filetype")
    if not filetype:
        errors["filetype"] = "This field is required."
    elif filetype not in ("sdist", "bdist_wheel"):
        errors["filetype"] = "Use a known file type."
    for field, algo in (("sha256_digest", "SHA256"), ("blake2_256_digest", "BLAKE2")):
        value = form.first(field)
        if value and not HEX64.match(value):
            errors[field] = f"Use a valid, hex-encoded, {algo} message digest."
    if errors:
        field = next((f for f in ERROR_ORDER if f in errors), sorted(errors)[0])
        if field == "name":
            shown = name or ""
            if len(shown) > 60:
                shown = shown[:30] + "..." + shown[-30:]
            raise Refused(
                f"{shown!r} is an invalid value for Name. Error: {errors[field]} "
                f"See {CORE} for more information."
            )
        raise Refused(f"Invalid value for {field}. Error: {errors[field]}")
    pyversion = form.first("pyversion")
    if filetype != "sdist" and not pyversion:
        raise Refused(
            "Invalid value for pyversion. Error: Python version is required for binary "
            "distribution uploads."
        )
    if filetype == "sdist" and pyversion and pyversion != "source":
        raise Refused(
            "Invalid value for pyversion. Error: Use 'source' as Python version for an sdist."
        )
    if not any(form.first(d) for d in ("md5_digest", "sha256_digest", "blake2_256_digest")):
        raise Refused("Error: Include at least one message digest.")


def _metadata(form: Form) -> pm.Metadata:
    """metadata.parse_form_metadata and _validate_metadata; the first error in
    warehouse's order of fields."""
    raw: dict[str, Any] = {}
    unparsed: list[str] = []
    for name in sorted(form.names()):
        raw_name = FORM_TO_RAW.get(name)
        if raw_name is None:
            continue
        value = form.getall(name)
        if value == [""]:
            continue
        if raw_name in pm._STRING_FIELDS and len(value) == 1:
            raw[raw_name] = value[0]
        elif raw_name in pm._LIST_FIELDS:
            raw[raw_name] = value
        elif raw_name == "keywords" and len(value) == 1:
            raw[raw_name] = [k.strip() for k in value[0].split(",") if k.strip()]
        elif raw_name == "project_urls":
            urls: dict[str, str] = {}
            for pair in value:
                label, _, url = (p.strip() for p in pair.partition(","))
                if label in urls:
                    unparsed.append(name)
                    break
                urls[label] = url
            else:
                raw[raw_name] = urls
        else:
            unparsed.append(name)
    errors: list[pm.InvalidMetadata] = [
        pm.InvalidMetadata(key, f"{key!r} has invalid data") for key in unparsed
    ]
    if not errors:
        try:
            meta = pm.Metadata.from_raw(raw)  # type: ignore[arg-type]
        except ExceptionGroup as group:
            errors = [e for e in group.exceptions if isinstance(e, pm.InvalidMetadata)]
        else:
            errors = _warehouse_checks(meta)
    if errors:
        by_field: dict[str, list[pm.InvalidMetadata]] = {}
        for error in errors:
            by_field.setdefault(error.field, []).append(error)
        field = next((f for f in ERROR_ORDER if f in by_field), sorted(by_field)[0])
        text = str(by_field[field][0])
        see = CORE
        if field == "version" and "use of local versions" in text:
            see = "https://packaging.python.org/en/latest/specifications/version-specifiers/#local-version-identifiers"
        raise Refused(f"{text}{'' if text.endswith('.') else '.'} See {see} for more information.")
    return meta


def _url_ok(url: str) -> bool:
    validator = (
        validators.Validator()
        .allow_schemes("http", "https")
        .require_presence_of("scheme")
        .check_validity_of("scheme", "host", "port", "path", "query")
    )
    try:
        validator.validate(uri_reference(url).normalize())
    except uri_exceptions.ValidationError:
        return False
    return True


def _warehouse_checks(meta: pm.Metadata) -> list[pm.InvalidMetadata]:
    E = pm.InvalidMetadata
    out: list[pm.InvalidMetadata] = []
    if meta.metadata_version not in METADATA_VERSIONS:
        out.append(
            E("metadata-version", f"{meta.metadata_version!r} is not a valid metadata version")
        )
    if meta.version.local:
        out.append(E("version", f"The use of local versions in '{meta.version}' is not allowed."))
    if meta.summary and len(meta.summary) > 512:
        out.append(E("summary", "'summary' field must be 512 characters or less."))
    for attr, field in (("author_email", "author-email"), ("maintainer_email", "maintainer-email")):
        if (value := getattr(meta, attr)) is not None:
            _, address = email.utils.parseaddr(value)
            if address:
                try:
                    email_validator.validate_email(address, check_deliverability=False)
                except email_validator.EmailNotValidError as exc:
                    out.append(E(field, f"{address!r} is not a valid email address: {exc}"))
    out.extend(
        E("classifier", f"{c!r} is not a valid classifier.")
        for c in sorted(set(meta.classifiers or []) - set(all_classifiers))
    )
    for c in sorted(set(meta.classifiers or []) & deprecated_classifiers.keys()):
        by = deprecated_classifiers[c]
        out.append(
            E("classifier", f"The classifier {c!r} has been deprecated, use one of {by} instead.")
            if by
            else E("classifier", f"The classifier {c!r} has been deprecated.")
        )
    for attr, field in (("home_page", "home-page"), ("download_url", "download-url")):
        if (url := getattr(meta, attr)) is not None and not _url_ok(url):
            out.append(E(field, f"{url!r} is not a valid url."))
    for label, url in (meta.project_urls or {}).items():
        if not label:
            out.append(E("project-url", "Must have a label"))
        elif len(label) > 32:
            out.append(E("project-url", f"{label!r} must be 32 characters or less."))
        elif not url:
            out.append(E("project-url", "Must have a URL"))
        elif not _url_ok(url):
            out.append(E("project-url", f"{url!r} is not a valid url"))
    for attr, field in (("provides_dist", "provides-dist"), ("obsoletes_dist", "obsoletes-dist")):
        for text in getattr(meta, attr) or []:
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                out.append(E(field, f"{text!r} is invalid: {exc}"))
            else:
                if req.url is not None:
                    out.append(E(field, f"Can't have direct dependency: {text!r}"))
    for requirement in meta.requires_dist or []:
        if requirement.url is not None:
            out.append(E("requires-dist", f"Can't have direct dependency: {requirement}"))
    for key in meta.dynamic or []:
        if key not in DYNAMIC:
            out.append(E("dynamic", f"Dynamic field {key!r} is not a valid dynamic field."))
    if meta.license and meta.license_expression:
        out.append(
            E(
                "license",
                "License is deprecated when License-Expression is present. "
                "Only License-Expression should be present.",
            )
        )
    return out


def _filename(filename: str, filetype: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise Refused(
            "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL "
            "character (ordinal 127) in the name."
        )
    if "/" in filename or "\\" in filename:
        raise Refused("Cannot upload a file with '/' or '\\' in the name.")
    m = re.match(r".+?(?P<extension>\.(tar\.gz|zip|whl))$", filename, re.I)
    if not m:
        raise Refused(
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
            "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ "
            "for more information"
        )
    allowed = {"sdist": {".zip", ".tar.gz"}, "bdist_wheel": {".whl"}}[filetype]
    if m["extension"] not in allowed:
        raise Refused(
            f"Invalid file extension: Extension {m['extension']} is invalid for filetype "
            f"{filetype}. See https://www.python.org/dev/peps/pep-0527 for more information."
        )


def _dist_file(filename: str, data: bytes) -> str | None:
    """_is_valid_dist_file: None when valid, else its reason ("" for none given)."""
    if filename.endswith(".whl"):
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            return "File is not a zipfile"
        with zf:
            inflated = sum(i.file_size for i in zf.infolist())
            if inflated > 64 * ONE_MIB and inflated / len(data) > 50:
                return "File exceeds compression ratio of 50"
            if any(
                i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                for i in zf.infolist()
            ):
                return "File does not use a supported compression type"
            parts = filename.split("-", 2)
            if len(parts) < 3:
                return "Unable to parse name and version from wheel filename"
            target = f"{parts[0]}-{parts[1]}.dist-info/WHEEL"
            if target not in zf.namelist():
                return f"WHEEL not found at {target}"
            framing = _zip_records(
                data, {i.orig_filename: (i.compress_size, i.file_size) for i in zf.infolist()}
            )
            if framing:
                return (
                    f"ZIP archive not accepted: {framing}. See {DOCS}/archives for more information"
                )
        return None
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115 - closed below
    except (tarfile.TarError, EOFError, OSError):
        return "File is not a tarfile"
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError):
            return ""
        names = [m.name for m in members]
        top = os.path.commonpath(names) if names else ""
        if any(m.issparse() for m in members):
            return (
                "tar archive not accepted: Sparse members are not allowed. "
                f"See {DOCS}/archives for more information"
            )
        if top in (".", "/", ""):
            return "Incorrect number of top-level directories in sdist"
        if os.path.join(top, "PKG-INFO") not in names:
            return f"PKG-INFO not found at {os.path.join(top, 'PKG-INFO')}"
    return None


def _zip_records(data: bytes, central: dict[str, tuple[int, int]]) -> str | None:
    """utils/zipfiles.py's walk over the records, simplified to the non-ZIP64 case."""
    pos, local, seen_cd = 0, set(), set()
    try:
        while True:
            sig = data[pos : pos + 4]
            pos += 4
            if sig == b"PK\x03\x04":
                flags, _method, csize, usize, nlen, xlen = struct.unpack_from(
                    "<xxHHxxxxxxxxLLHH", data, pos
                )
                pos += 26
                name = data[pos : pos + nlen]
                pos += nlen + xlen
                if flags & 0x08:
                    return "ZIP contains a data descriptor"
                if central.get(name.decode()) is None:
                    return "Filename not in central directory"
                if central[name.decode()] != (csize, usize):
                    return "Mis-matched data size"
                if name in local:
                    return "Duplicate filename in local headers"
                local.add(name)
                pos += csize
            elif sig == b"PK\x01\x02":
                nlen, xlen, clen = struct.unpack_from("<HHH", data, pos + 24)
                if clen:
                    return "Comment in central directory"
                name = data[pos + 42 : pos + 42 + nlen]
                pos += 42 + nlen + xlen
                if name in seen_cd:
                    return "Duplicate filename in central directory"
                if name not in local:
                    return "Missing filename in local headers"
                seen_cd.add(name)
            elif sig == b"PK\x05\x06":
                (comment,) = struct.unpack_from("<H", data, pos + 16)
                pos += 18 + comment
                break
            else:
                return "Unknown record signature"
    except (struct.error, UnicodeError):
        return "Malformed zip file"
    return "Trailing data" if pos != len(data) else None


def _sdist(filename: str, data: bytes, meta: pm.Metadata, project_name: str) -> None:
    try:
        name, _ = packaging.utils.parse_sdist_filename(filename)
    except packaging.utils.InvalidSdistFilename:
        raise Refused(f"Invalid source distribution filename: {filename}") from None
    normalized = packaging.utils.canonicalize_name(project_name)
    if packaging.utils.canonicalize_name(name) != normalized:
        raise Refused(f"Start filename for {project_name!r} with {normalized.replace('-', '_')!r}.")
    expected = f"{normalized.replace('-', '_')}-{meta.version}.tar.gz"
    if filename != expected:
        raise Refused(f"Filename {filename!r} is invalid, should be {expected!r}.")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        top = os.path.commonpath(names)
        for lf in meta.license_files or []:
            target = os.path.join(top, lf)
            if target not in names:
                raise Refused(
                    f"License-File {lf} does not exist in distribution file {filename} at {target}"
                )


def _wheel(filename: str, data: bytes, meta: pm.Metadata, project_name: str) -> None:
    try:
        name, version, _, tags = packaging.utils.parse_wheel_filename(filename)
    except packaging.utils.InvalidWheelFilename as exc:
        raise Refused(str(exc)) from None
    for tag in tags:
        if not _platform_ok(tag.platform):
            raise Refused(
                f"Binary wheel '{filename}' has an unsupported platform tag '{tag.platform}'."
            )
    canonical = packaging.utils.canonicalize_name(meta.name)
    if canonical != name:
        raise Refused(f"Start filename for {project_name!r} with {canonical.replace('-', '_')!r}.")
    given = filename.split("-", 1)[0]
    normalized = packaging.utils.canonicalize_name(project_name).replace("-", "_")
    if given != normalized:
        raise Refused(
            f"Filename {filename!r} should contain the normalized project name "
            f"{normalized!r}, not {given!r}."
        )
    if meta.version != version:
        raise Refused(f"Version in filename should be {str(meta.version)!r} not {str(version)!r}.")
    stem_name, stem_version, _ = filename.split("-", 2)
    info = f"{stem_name}-{stem_version}.dist-info"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = set(zf.namelist())
        for lf in meta.license_files or []:
            target = f"{info}/licenses/{lf}"
            if target not in members:
                raise Refused(
                    f"License-File {lf} does not exist in distribution file {filename} at {target}"
                )
        try:
            list(csv.reader(zf.read(f"{info}/RECORD").decode().splitlines()))
        except (KeyError, UnicodeError, csv.Error):
            raise Refused(
                f"Wheel '{filename}' does not contain the required RECORD file: {info}/RECORD"
            ) from None
        if not _entry_points_ok(zf, f"{info}/entry_points.txt"):
            raise Refused(
                f"Wheel '{filename}' has invalid entry points defined in the entry_points.txt file"
            )
        if f"{info}/METADATA" not in members:
            raise Refused(
                f"Wheel '{filename}' does not contain the required METADATA file: {info}/METADATA"
            )
    if len((filename + ".metadata").encode()) > 255:
        raise Refused(f"Filename is too long: '{filename}'")


def _entry_points_ok(zf: zipfile.ZipFile, member: str) -> bool:
    try:
        text = zf.read(member).decode()
    except KeyError:
        return True
    except UnicodeError:
        return False
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return False
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            for ep in parser[section]:
                if re.fullmatch(r"[\w.-]+", ep) is None:
                    return False
    return True


_ALLOWED = {
    "any", "win32", "win_arm64", "win_amd64", "win_ia64", "manylinux1_x86_64", "manylinux1_i686",
    "manylinux2010_x86_64", "manylinux2010_i686", "manylinux2014_x86_64", "manylinux2014_i686",
    "manylinux2014_aarch64", "manylinux2014_armv7l", "manylinux2014_ppc64",
    "manylinux2014_ppc64le", "manylinux2014_s390x", "linux_armv6l", "linux_armv7l",
}  # fmt: skip
_MAC_ARCHES = {"ppc", "ppc64", "i386", "x86_64", "arm64", "intel", "fat", "fat3", "fat64",
               "universal", "universal2"}  # fmt: skip
_LINUX_ARCHES = {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"}


def _platform_ok(tag: str) -> bool:
    if tag in _ALLOWED:
        return True
    m = re.match(r"macosx_(\d+)_(\d+)_(.*)", tag)
    if (
        m
        and m[3] in _MAC_ARCHES
        and (m[1] == "10" or (m[1] in {"11", "12", "13", "14", "15", "26"} and m[2] == "0"))
    ):
        return True
    m = re.match(r"(many|musl)linux_(\d+)_(\d+)_(.*)", tag)
    if m:
        return m[4] in (_LINUX_ARCHES | {"ppc64"} if m[1] == "many" else _LINUX_ARCHES)
    m = re.match(r"ios_(\d+)_(\d+)_(.*)_(iphoneos|iphonesimulator)", tag)
    if m and m[3] in {"arm64", "x86_64"}:
        return True
    m = re.match(r"android_(\d+)_(.*)", tag)
    if m and m[2] in {"armeabi_v7a", "arm64_v8a", "x86", "x86_64"}:
        return True
    return re.match(r"pyemscripten_(\d+)_(\d+)_wasm32", tag) is not None


def iter_refusals(
    cases: list[tuple[Form, Content | None]], ledger: Ledger, now: float
) -> Iterator[tuple[int, str] | None]:
    """``refusal`` of each upload in turn, recording the ones taken (for tests)."""
    for form, content in cases:
        answer = refusal(form, content, ledger, now=now)
        if answer is None and content is not None:
            with ledger.lock:
                ledger.record(form, content, now)
        yield answer
