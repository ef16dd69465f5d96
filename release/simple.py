"""The simple API's project pages, parsed strictly with the standard library.

PEP 691 JSON and PEP 503 HTML, with PEP 700 versions, PEP 740 provenance and PEP 792
status. A field we read that has the wrong type refuses the whole page: fail closed,
never "a new project". pypi-simple parsed them before, but importing it pulls pydantic
and BeautifulSoup into every run (about 12 MiB, issue 12); index.py still uses it to
download a file, which is rare.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlparse, urlunparse

from packaging.utils import canonicalize_name
from packaging.version import Version

from .dists import file_version
from .errors import PackageIndexError
from .gha import printable
from .urls import sanitize_url
from .versions import Known, parse_known

if TYPE_CHECKING:
    from .http import Page

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
# PEP 792: a project in these states takes no uploads.
REFUSED_STATUS = {
    "archived": "the project is archived: its maintainers marked it as no longer updated",
    "quarantined": "the project is quarantined by the index's administrators",
    "deprecated": "the project is deprecated",
}
# Every PEP 792 status; any other refuses the page (as pypi-simple's enum did).
STATUSES = frozenset({"active", *REFUSED_STATUS})
# PEP 503 pages name their project: "Links for NAME" (devpi: "user/index: links for NAME").
TITLE = re.compile(rb"<(title|h1)>[^<]*?\bLinks for\s+([^<]+?)\s*</\1>", re.I)
# PEP 629's api-version, "MAJOR.MINOR"; only major version 1 exists.
API_VERSION = re.compile(r"\s*(\d{1,9})(?:\.\d{1,9})*\s*")


@dataclasses.dataclass(frozen=True)
class IndexFile:
    """A file the project's page lists."""

    filename: str
    url: str  # absolute; an HTML page's digest fragment removed
    sha256: str | None
    yanked: bool
    version: str | None
    # Every digest the page gives (algorithm -> hex); download() checks them.
    digests: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)
    # PEP 740: where the index serves the file's provenance, if it does.
    provenance_url: str | None = dataclasses.field(default=None, compare=False)
    # PEP 700 (JSON pages only): when the index took the file (aware, UTC), its size.
    upload_time: datetime | None = dataclasses.field(default=None, compare=False)
    size: int | None = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass(frozen=True)
class IndexProject:
    """A project's files and versions on the index (empty if the index never saw it)."""

    name: str
    files: tuple[IndexFile, ...] = ()
    versions: tuple[str, ...] = ()
    status: str = "active"

    def known(self) -> list[Known]:
        """Every version the index has; yanked when all its files are yanked."""
        # PEP 700 lists versions too, also those whose files are all gone.
        yanked = {v: False for v in map(parse_known, self.versions) if v is not None}
        by_version: dict[Version, list[bool]] = {}
        for f in self.files:
            if f.version and (v := parse_known(f.version)) is not None:
                by_version.setdefault(v, []).append(f.yanked)
        for v, flags in by_version.items():
            yanked[v] = all(flags)
        return [Known(v, y) for v, y in sorted(yanked.items())]

    def files_for(self, version: Version) -> dict[str, IndexFile]:
        return {
            f.filename: f
            for f in self.files
            if f.version is not None and parse_known(f.version) == version
        }

    def sha256s(self) -> dict[str, str | None]:
        return {f.filename: f.sha256 for f in self.files}


def _not_simple(page: Page, why: str) -> PackageIndexError:
    # Never echo the page: it is outside text, and may be anything.
    kind = page.content_type or "no content type"
    return PackageIndexError(
        "index-answer-invalid",
        f"{sanitize_url(page.url)} did not answer as a simple API project page: {why} "
        f"(got {kind}, {len(page.body)} bytes).",
        "Nothing was uploaded. {index-url} must be a PEP 503/691 simple API such as "
        "https://pypi.org/simple/; if it is, the index or a proxy in front of it sent "
        "an error page: try again later.",
    )


class _Malformed(Exception):
    """A field of the page has the wrong type or an impossible value."""


class _Unsupported(Exception):
    """The page declares an API version whose major version is not 1."""

    def __init__(self, declared: str) -> None:
        super().__init__(declared)
        self.declared = declared


def parse_page(page: Page, name: str) -> IndexProject:
    """A validated project page, as an IndexProject."""
    want = canonicalize_name(name)
    try:
        if page.content_type == JSON_TYPE:
            return _parse_json(page, want)
        if page.content_type in HTML_TYPES:
            return _parse_html(page, want)
        raise _not_simple(page, "unexpected content type")
    except _Unsupported as exc:
        raise _not_simple(
            page, f"unsupported API version ({printable(exc.declared, 40)})"
        ) from None
    except (_Malformed, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        # json's errors and a bad charset's are ValueErrors; RecursionError: JSON nested
        # deeper than the parser goes; the others: a bug of ours meeting an odd shape,
        # which must fail closed too.
        raise _not_simple(page, "it could not be parsed") from None


def _check_api_version(declared: str) -> None:
    match = API_VERSION.fullmatch(declared)
    if match is None:
        raise _Malformed
    if int(match.group(1)) != 1:
        raise _Unsupported(declared)


def _check_status(status: object) -> str:
    if status is None:
        return "active"
    if not isinstance(status, str) or status not in STATUSES:
        raise _Malformed
    return status


def _provenance(base: str, value: str) -> str:
    """PEP 740's provenance URL, resolved; only http(s) is fetched."""
    url = urljoin(base, value)
    parts = urlparse(url)
    if not value or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Malformed
    return url


def _str_dict(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Malformed
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _Malformed
    return dict(value)


def _parse_json(page: Page, want: str) -> IndexProject:
    """PEP 691 (with PEP 700's versions, PEP 740's provenance, PEP 792's status)."""
    data = json.loads(page.body)
    meta = data.get("meta") if isinstance(data, dict) else None
    api = meta.get("api-version") if isinstance(meta, dict) else None
    if not isinstance(data, dict) or not isinstance(api, str):
        raise _not_simple(page, "the JSON has no meta.api-version")
    name = data.get("name")
    if not isinstance(name, str) or canonicalize_name(name) != want:
        raise _not_simple(page, f"the JSON is not the page of '{want}'")
    _check_api_version(api)
    entries = data.get("files")
    if not isinstance(entries, list):
        raise _Malformed
    files = tuple(_json_file(entry, page.url, name) for entry in entries)
    versions = data.get("versions")  # PEP 700; absent before api-version 1.1
    if versions is not None and (
        not isinstance(versions, list) or not all(isinstance(v, str) for v in versions)
    ):
        raise _Malformed
    marker = data.get("project-status", {})
    if not isinstance(marker, dict):
        raise _Malformed
    _optional_str(marker.get("reason"))
    return IndexProject(
        name=want,
        files=files,
        versions=tuple(versions or ()),
        status=_check_status(marker.get("status")),
    )


def _optional_str(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _Malformed
    return value


def _json_file(entry: object, base: str, hint: str) -> IndexFile:
    if not isinstance(entry, dict):
        raise _Malformed
    filename, url = entry.get("filename"), entry.get("url")
    if not isinstance(filename, str) or not isinstance(url, str):
        raise _Malformed
    digests = _str_dict(entry.get("hashes"))
    yanked = entry.get("yanked", False)  # False, True, or the reason (yanked)
    if not isinstance(yanked, bool | str):
        raise _Malformed
    provenance = _optional_str(entry.get("provenance"))
    size = entry.get("size")  # PEP 700: an int, required from api-version 1.1 on
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise _Malformed
    return IndexFile(
        filename=filename,
        url=urljoin(base, url),
        sha256=digests.get("sha256"),
        yanked=yanked if isinstance(yanked, bool) else True,
        version=file_version(filename) or legacy_version(filename, hint),
        digests=digests,
        provenance_url=None if provenance is None else _provenance(base, provenance),
        upload_time=_upload_time(entry.get("upload-time")),
        size=size,
    )


# PEP 700's upload-time: ISO 8601 in UTC, "yyyy-mm-ddThh:mm:ss.ffffffZ" (fraction optional).
UPLOAD_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def _upload_time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or not UPLOAD_TIME.fullmatch(value):
        raise _Malformed
    return datetime.fromisoformat(value)  # 3.11 reads the Z; a bad date: ValueError


def _decode(page: Page) -> str:
    """The page as text: in its declared charset, else UTF-8 (as pip reads it)."""
    try:
        return page.body.decode(page.charset or "utf-8")
    except LookupError:  # a charset Python does not know: only UTF-8 is believed then
        return page.body.decode("utf-8")


def _parse_html(page: Page, want: str) -> IndexProject:
    """PEP 503 (with PEP 592's yanked, PEP 629's version, PEP 740, PEP 792)."""
    # PEP 503 asks for little, so a login, captcha or error page is HTML too; the
    # project's name in the title is what marks a project page (pypiserver sends no
    # pypi:repository-version), and an index's root page or another project's page (a
    # misrouted proxy) would read as "no files": refused.
    named = {
        canonicalize_name(m.group(2).decode("utf-8", "replace"))
        for m in TITLE.finditer(page.body[:65536])
    }
    if not named:
        raise _not_simple(page, "the HTML does not name a project ('Links for ...')")
    if named != {want}:
        other = printable(", ".join(sorted(named - {want})), 100)
        raise _not_simple(page, f"the HTML is the page of '{other}', not of '{want}'")
    links = _Links()
    try:
        links.feed(_decode(page))
        links.close()
    except AssertionError:  # how HTMLParser refuses markup, e.g. "<![foo"
        raise _Malformed from None
    if declared := links.meta.get("repository-version"):
        _check_api_version(declared[0])
    status = links.meta.get("project-status")
    base = page.url if links.base is None else urljoin(page.url, links.base)
    files = []
    for attrs, text in links.anchors:
        # PEP 503: the anchor's text is the file's name; the URL's fragment its digest.
        filename = "".join(text).strip()
        parts = urlparse(urljoin(base, attrs["href"]))
        algorithm, _, digest = parts.fragment.partition("=")
        digests = {algorithm: digest} if digest else {}
        provenance = attrs.get("data-provenance")
        files.append(
            IndexFile(
                filename=filename,
                url=urlunparse(parts._replace(fragment="")),
                sha256=digests.get("sha256"),
                yanked="data-yanked" in attrs,  # PEP 592: any value, even none, yanks
                version=file_version(filename) or legacy_version(filename, want),
                digests=digests,
                provenance_url=_provenance(base, provenance) if provenance else None,
            )
        )
    return IndexProject(
        name=want, files=tuple(files), status=_check_status(status[0] if status else None)
    )


class _Links(HTMLParser):
    """What a PEP 503 page says: its anchors with an href (attributes, text parts), its
    first ``<base href>``, and its ``<meta name="pypi:...">`` values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities decoded in text and attributes
        self.anchors: list[tuple[dict[str, str], list[str]]] = []
        self.base: str | None = None
        self.meta: dict[str, list[str]] = {}
        self._text: list[str] | None = None  # the open anchor's text
        self._script = False  # inside <script> or <style>: no link text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A repeated attribute: the last one counts (as in bs4); no value reads as "".
        values = {key: value or "" for key, value in attrs}
        if tag == "a":
            self._text = None  # an <a> ends the one still open, as HTML does
            if "href" in values:
                self._text = []
                self.anchors.append((values, self._text))
        elif tag == "base":
            if self.base is None and "href" in values:
                self.base = values["href"]
        elif tag == "meta":
            name, content = values.get("name"), values.get("content")
            if name is not None and content is not None and name.startswith("pypi:"):
                self.meta.setdefault(name.removeprefix("pypi:"), []).append(content)
        elif tag in ("script", "style"):
            self._script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._text = None
        elif tag in ("script", "style"):
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._text is not None and not self._script:
            self._text.append(data)


# The version in the names of files that packaging's parsers do not take (eggs,
# bdist_dumb/msi/rpm/wininst, sdists in other archives or with odd names), as
# pypi-simple finds it (its filenames.py, MIT licence), so old releases still count.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_NAME_NODASH = r"[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?"
_VERSION = r"[A-Za-z0-9_.!+-]+?"
_VERSION_NODASH = r"[A-Za-z0-9_.!+]+?"
_ARCHIVE = r"\.(?:tar|tar\.(?:bz2|gz|lz|lzma|xz|Z)|tbz|tgz|tlz|txz|zip)"
_PLATFORM = r"(?:aix|cygwin|darwin|linux|macosx|solaris|sunos|[wW]in)[-.A-Za-z0-9_]*"
_PYVER = r"py[0-9]+\.[0-9]+"
# Grammars with one reading.
_WHOLE = [
    re.compile(  # egg
        rf"^{_NAME_NODASH}-(?P<version>{_VERSION_NODASH})"
        rf"(?:-{_PYVER}(?:-{_PLATFORM})?)?\.egg$"
    ),
    re.compile(rf"^{_NAME}-(?P<version>{_VERSION_NODASH})-[^-]+\.[A-Za-z0-9._]+\.rpm$"),
    re.compile(  # wheel
        rf"^{_NAME_NODASH}-(?P<version>{_VERSION_NODASH})(-[0-9][^-]*?)?-.+?-.+?-.+?\.whl$"
    ),
]
# Ambiguous grammars ("a-b-1.0.tar.gz"): what follows the project's name.
_TAILS = [
    re.compile(rf"-(?P<version>{_VERSION})\.{_PLATFORM}{_ARCHIVE}$"),  # bdist_dumb
    re.compile(rf"-(?P<version>{_VERSION})\.{_PLATFORM}(?:-{_PYVER})?\.msi$"),
    re.compile(rf"-(?P<version>{_VERSION}){_ARCHIVE}$"),  # sdist
    re.compile(rf"-(?P<version>{_VERSION})\.{_PLATFORM}(?:-{_PYVER})?\.exe$"),  # wininst
]
_ANY_NAME = [re.compile(f"^{_NAME}{tail.pattern}") for tail in _TAILS]


def legacy_version(filename: str, project: str) -> str | None:
    """The version in a file name by pypi-simple's rules (``parse_filename``), or None."""
    for whole in _WHOLE:
        if m := whole.match(filename):
            return m.group("version")
    # The project's name, any run of "-_." for its separators, any case.
    spelled = re.sub(r"[^A-Za-z0-9]+", "[-_.]+", project)
    spelled = re.sub(r"([A-Za-z])", lambda m: f"[{m[1].upper()}{m[1].lower()}]", spelled)
    if m := re.match(spelled + r"(?=-)", filename):
        rest = filename[m.end() :]
        for tail in _TAILS:
            if t := tail.match(rest):
                return t.group("version")
    for any_name in _ANY_NAME:
        if m := any_name.match(filename):
            return m.group("version")
    return None
