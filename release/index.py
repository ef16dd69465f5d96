"""What the index already has for a project, through its simple API.

pypi-simple asks for PEP 691 JSON first and falls back to PEP 503 HTML.
"""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.parse
from pathlib import Path

import requests
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version
from pypi_simple import (
    NoSuchProjectError,
    PyPISimple,
    UnsupportedContentTypeError,
    UnsupportedRepoVersionError,
)

from .errors import PackageIndexError
from .versions import Known, parse_known

CHUNK = 1024 * 1024


def sanitize_url(url: str) -> str:
    """Hide the password in a URL before it is shown anywhere."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def file_version(filename: str) -> str | None:
    """The version in a distribution's file name, or None for other kinds of file."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


@dataclasses.dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    sha256: str | None
    yanked: bool
    version: str | None


@dataclasses.dataclass(frozen=True)
class IndexProject:
    """A project's files and versions on the index (empty if the index never saw it)."""

    name: str
    files: tuple[IndexFile, ...] = ()
    versions: tuple[str, ...] = ()

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


def read_project(
    session: requests.Session, index_url: str, name: str, *, fresh: bool = False
) -> IndexProject:
    """Read the project's page; ``fresh`` asks caches in between for a new copy."""
    client = PyPISimple(endpoint=index_url, session=session)
    headers = {"Cache-Control": "no-cache"} if fresh else None
    shown = sanitize_url(client.get_project_url(name))
    try:
        page = client.get_project_page(name, headers=headers)
    except NoSuchProjectError:
        return IndexProject(name=canonicalize_name(name))
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise PackageIndexError(
            f"The index answered HTTP {status} for {shown}.",
            "Check index-url: it must be the simple API of the index you upload to.",
        ) from None
    except requests.RequestException as exc:
        raise PackageIndexError(
            f"Cannot reach the index at {shown}: {type(exc).__name__}.",
            "Check index-url and that the index is up; nothing was uploaded.",
        ) from None
    except (UnsupportedContentTypeError, UnsupportedRepoVersionError) as exc:
        raise PackageIndexError(
            f"{shown} did not answer as a simple API: {exc}",
            "index-url must be a PEP 503/691 simple API, such as https://pypi.org/simple/",
        ) from None
    files = tuple(
        IndexFile(
            filename=p.filename,
            url=p.url,
            sha256=p.digests.get("sha256"),
            yanked=p.is_yanked,
            version=file_version(p.filename) or p.version,
        )
        for p in page.packages
    )
    return IndexProject(
        name=canonicalize_name(name), files=files, versions=tuple(page.versions or ())
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(session: requests.Session, file: IndexFile, dest: Path) -> Path:
    """Fetch a file the index has, checking its sha256 when the index gives one."""
    target = dest / file.filename
    try:
        with session.get(file.url, stream=True) as response:
            response.raise_for_status()
            with target.open("wb") as fh:
                for chunk in response.iter_content(CHUNK):
                    fh.write(chunk)
    except requests.RequestException as exc:
        raise PackageIndexError(
            f"Cannot download {file.filename} from the index: {type(exc).__name__}.",
            "The index lists the file but did not serve it; try again later.",
        ) from None
    if file.sha256 and sha256_of(target) != file.sha256:
        raise PackageIndexError(
            f"The index served {file.filename} with a sha256 that differs from its listing.",
            "A proxy or cache may be altering downloads; try again later.",
        )
    return target
