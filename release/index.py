"""What the index already has for a project, read defensively through its simple API.

Fail closed: only a real PEP 691 JSON or PEP 503 HTML project page counts. A 404 is
believed only when a second read that bypasses caches says so too; anything else (an
HTML error page with status 200, garbage, a page too large or too slow) is an error,
never "a new project". pypi-simple parses what passed those checks.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import urllib3.exceptions
from packaging.utils import canonicalize_name
from packaging.version import Version

from .dists import file_version
from .errors import PackageIndexError
from .http import (
    READ_DEADLINE,
    Page,
    TooLarge,
    TooSlow,
    Unreadable,
    gave_up,
    get_capped,
    printable,
)
from .settings import sanitize_url
from .versions import Known, parse_known

if TYPE_CHECKING:
    from pypi_simple import DistributionPackage

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
# PyPI's largest project pages are a few MB; a page past this is not an answer.
MAX_PAGE = 20 * 1024 * 1024
NO_CACHE = {"Cache-Control": "no-cache", "Pragma": "no-cache"}
# PEP 792: a project in these states takes no uploads.
REFUSED_STATUS = {
    "archived": "the project is archived: its maintainers marked it as no longer updated",
    "quarantined": "the project is quarantined by the index's administrators",
    "deprecated": "the project is deprecated",
}
# A download of a file the index lists: its deadline grows with the size cap at this rate.
DOWNLOAD_RATE = 1024 * 1024  # bytes/s
# PEP 503 pages name their project: "Links for NAME" (devpi: "user/index: links for NAME").
TITLE = re.compile(rb"<(title|h1)>[^<]*?\bLinks for\s+([^<]+?)\s*</\1>", re.I)


@dataclasses.dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    sha256: str | None
    yanked: bool
    version: str | None
    package: DistributionPackage | None = dataclasses.field(default=None, compare=False)


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


def project_url(index_url: str, name: str) -> str:
    return f"{index_url.rstrip('/')}/{canonicalize_name(name)}/"


def _fetch(session: requests.Session, url: str, fresh: bool) -> Page:
    shown = sanitize_url(url)
    headers = {"Accept": ACCEPT, **(NO_CACHE if fresh else {})}
    try:
        return get_capped(session, url, headers=headers, max_bytes=MAX_PAGE)
    except (TooLarge, TooSlow, Unreadable) as exc:
        raise PackageIndexError(
            "index-page-unusable",
            f"The index's page {shown} could not be read: {exc}.",
            "Nothing was uploaded. Check {index-url}; if it is right, the index or a "
            "proxy in between is misbehaving: try again later.",
        ) from None
    except requests.RequestException as exc:
        why = gave_up(exc)
        raise PackageIndexError(
            "index-unreachable",
            f"Cannot reach the index at {shown}: {type(exc).__name__}"
            + (f" (not retried further: {why})" if why else "")
            + ".",
            "Check {index-url} and that the index is up; nothing was uploaded.",
        ) from None


def read_project(
    session: requests.Session, index_url: str, name: str, *, fresh: bool = False
) -> IndexProject:
    """Read the project's page; ``fresh`` asks caches in between for a new copy."""
    url = project_url(index_url, name)
    page = _fetch(session, url, fresh)
    if page.status == 404:
        # A 404 from a cache or a flaky front is not proof: ask the origin again.
        page = _fetch(session, url, fresh=True)
        if page.status == 404:
            return IndexProject(name=canonicalize_name(name))
    if page.status != 200:
        busy = page.status == 429 or page.status >= 500
        raise PackageIndexError(
            "index-http-error",
            f"The index answered HTTP {page.status} for {sanitize_url(url)}"
            + (f" (not retried further: {page.note})" if page.note else "")
            + ".",
            "Nothing was uploaded. The index is busy or failing: re-run later."
            if busy
            else "Check {index-url}: it must be the simple API of the index you upload "
            "to. Nothing was uploaded.",
        )
    return parse_page(page, name)


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


def parse_page(page: Page, name: str) -> IndexProject:
    """A validated project page, as an IndexProject."""
    from pypi_simple import ProjectPage, UnsupportedRepoVersionError

    want = canonicalize_name(name)
    try:
        if page.content_type == JSON_TYPE:
            data = json.loads(page.body)
            api = data.get("meta", {}).get("api-version") if isinstance(data, dict) else None
            if not isinstance(api, str):
                raise _not_simple(page, "the JSON has no meta.api-version")
            if canonicalize_name(str(data.get("name", ""))) != want:
                raise _not_simple(page, f"the JSON is not the page of '{want}'")
            parsed = ProjectPage.from_json_data(data, page.url)
        elif page.content_type in HTML_TYPES:
            # PEP 503 asks for little, so a login, captcha or error page is HTML too;
            # the project's name in the title is what marks a project page (pypiserver
            # sends no pypi:repository-version), and an index's root page or another
            # project's page (a misrouted proxy) would read as "no files": refused.
            named = {
                canonicalize_name(m.group(2).decode("utf-8", "replace"))
                for m in TITLE.finditer(page.body[:65536])
            }
            if not named:
                raise _not_simple(page, "the HTML does not name a project ('Links for ...')")
            if named != {want}:
                other = printable(", ".join(sorted(named - {want})), 100)
                raise _not_simple(page, f"the HTML is the page of '{other}', not of '{want}'")
            parsed = ProjectPage.from_html(want, page.body, page.url, page.charset)
        else:
            raise _not_simple(page, "unexpected content type")
    except UnsupportedRepoVersionError as exc:
        raise _not_simple(page, f"unsupported API version ({exc.declared_version})") from None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        # json's and pydantic's errors are ValueErrors; the others: odd shapes, and
        # JSON nested deeper than the parser goes.
        raise _not_simple(page, "it could not be parsed") from None
    files = tuple(
        IndexFile(
            filename=p.filename,
            url=p.url,
            sha256=p.digests.get("sha256"),
            yanked=p.is_yanked,
            version=file_version(p.filename) or p.version,
            package=p,
        )
        for p in parsed.packages
    )
    status = parsed.status.value if parsed.status is not None else "active"
    return IndexProject(
        name=want, files=files, versions=tuple(parsed.versions or ()), status=str(status)
    )


def check_status(project: IndexProject, index_url: str) -> None:
    """PEP 792: an archived, quarantined or deprecated project takes no new release."""
    why = REFUSED_STATUS.get(project.status)
    if why is not None:
        raise PackageIndexError(
            f"project-{project.status}",
            f"The index marks '{project.name}' as {project.status} ({why}); it takes no "
            "new release.",
            f"Nothing was uploaded. Ask the index ({sanitize_url(index_url)}) to make the "
            "project active again, then re-run.",
        )


class _Guard:
    """pypi-simple's progress hook, used to stop a download past its size or deadline."""

    def __init__(self, limit: int, deadline: float) -> None:
        self.seen = 0
        self.limit = limit
        self.deadline = deadline
        self.end = time.monotonic() + deadline

    def __call__(self, _total: int | None) -> _Guard:
        return self

    def __enter__(self) -> _Guard:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, increment: int) -> None:
        self.seen += increment
        if self.seen > self.limit:
            raise TooLarge(f"it is larger than {self.limit} bytes")
        if time.monotonic() > self.end:
            raise TooLarge(f"it did not arrive within {self.deadline:.0f} s")


def download(session: requests.Session, file: IndexFile, dest: Path, *, limit: int) -> Path:
    """Fetch a file the index lists, at most ``limit`` bytes, checking the digests the
    listing gives (pypi-simple's verify)."""
    from pypi_simple import DigestMismatchError, PyPISimple

    if file.package is None:
        raise AssertionError("download() needs a file read from the index")
    # The name comes from the index: it must not lead out of ``dest``.
    name = Path(file.filename).name
    if name != file.filename or name in ("", ".", ".."):
        raise PackageIndexError(
            "index-answer-invalid",
            f"The index lists a file named {printable(file.filename)!r}, which is no file name.",
            "Nothing was uploaded. The index or a proxy in front of it is misbehaving.",
        )
    target = dest / name
    client = PyPISimple(session=session)
    deadline = READ_DEADLINE + limit / DOWNLOAD_RATE
    try:
        client.download_package(
            file.package,
            target,
            verify=bool(file.package.digests),
            timeout=(10, 60),
            progress=_Guard(limit, deadline),
        )
    except DigestMismatchError:
        raise PackageIndexError(
            "index-digest-mismatch",
            f"The index served {file.filename} with a digest that differs from its listing.",
            "A proxy or cache may be altering downloads; try again later.",
        ) from None
    except (requests.RequestException, TooLarge, OSError, urllib3.exceptions.HTTPError) as exc:
        raise PackageIndexError(
            "index-download-failed",
            f"Cannot download {file.filename} from the index: {exc}."
            if isinstance(exc, TooLarge)
            else f"Cannot download {file.filename} from the index: {type(exc).__name__}.",
            "The index lists the file but did not serve it; try again later.",
        ) from None
    return target
