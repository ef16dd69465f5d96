"""What the index already has for a project, read defensively through its simple API.

Fail closed: only a real PEP 691 JSON or PEP 503 HTML project page counts. A 404 is
believed only when a second read that bypasses caches says so too; anything else (an
HTML error page with status 200, garbage, a page too large or too slow, a page of the
wrong shape) is an error, never "a new project".

The pages are parsed in simple.py. A file the index lists is downloaded here, within a
size cap and a deadline checked between reads (pypi-simple's download reads in blocks
that a server sending a byte now and then never completes), and checked against every
digest of its listing that hashlib knows.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from packaging.utils import canonicalize_name

from .errors import PackageIndexError
from .gha import printable
from .http import (
    READ_DEADLINE,
    BodyError,
    Page,
    TransportError,
    answer,
    get_capped,
    not_retried,
)
from .simple import JSON_TYPE, REFUSED_STATUS, IndexFile, IndexProject, parse_page
from .urls import sanitize_url
from .versions import Gate, gate

if TYPE_CHECKING:
    from packaging.version import Version

    from .model import Target

ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
# PyPI's largest project pages are a few MB; a page past this is not an answer.
MAX_PAGE = 20 * 1024 * 1024
NO_CACHE = {"Cache-Control": "no-cache", "Pragma": "no-cache"}
# A download of a file the index lists: its deadline grows with the size cap at this rate.
DOWNLOAD_RATE = 1024 * 1024  # bytes/s


def project_url(index_url: str, name: str) -> str:
    return f"{index_url.rstrip('/')}/{canonicalize_name(name)}/"


def _fetch(session: requests.Session, url: str, fresh: bool) -> Page:
    shown = sanitize_url(url)
    headers = {"Accept": ACCEPT, **(NO_CACHE if fresh else {})}
    try:
        return get_capped(session, url, headers=headers, max_bytes=MAX_PAGE)
    except TransportError as exc:
        if isinstance(exc, BodyError):
            raise PackageIndexError(
                "index-page-unusable",
                f"The index's page {shown} could not be read: {exc}.",
                "Nothing was uploaded. Check {index-url}; if it is right, the index or a "
                "proxy in between is misbehaving: try again later.",
            ) from None
        raise PackageIndexError(
            "index-unreachable",
            f"Cannot reach the index at {shown}: {exc}{not_retried(exc.note)}.",
            "Check {index-url} and that the index is up; nothing was uploaded.",
        ) from None


PROVENANCE_HINT = (
    "The files are on the index. Re-run later to check the provenance again (nothing is "
    "uploaded twice)."
)


def read_provenance(session: requests.Session, name: str, url: str) -> bytes:
    """The PEP 740 provenance object the index lists for a file it has."""
    try:
        page = get_capped(session, url, max_bytes=MAX_PAGE)
    except TransportError as exc:
        if isinstance(exc, BodyError):
            raise PackageIndexError(
                "provenance-unreadable",
                f"The index lists provenance for {name}, but it could not be read: {exc}.",
                PROVENANCE_HINT,
            ) from None
        raise PackageIndexError(
            "provenance-unreachable",
            f"The index lists provenance for {name}, but did not answer: "
            f"{exc}{not_retried(exc.note)}.",
            PROVENANCE_HINT,
        ) from None
    if page.status != 200:
        raise PackageIndexError(
            "provenance-http-error",
            f"The index lists provenance for {name} but answered HTTP {page.status}.",
            PROVENANCE_HINT,
        )
    return page.body


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
            f"{not_retried(page.note)}.",
            "Nothing was uploaded. The index is busy or failing: re-run later."
            if busy
            else "Check {index-url}: it must be the simple API of the index you upload "
            "to. Nothing was uploaded.",
        )
    return parse_page(page, name)


def judge(target: Target, project: IndexProject, version: Version, tag: str) -> Gate:
    """Whether the target's index takes this version: the project's status (PEP 792),
    then the version gate."""
    check_status(project, target.simple_url)
    return gate(version, project.known(), tag, allow_backport=target.allow_backport)


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


AFTER_UPLOAD_HINT = (
    "The upload is done: only reading the index back to confirm it failed. Check "
    "{index-url} and that the index is up, then re-run to confirm (nothing is uploaded "
    "twice)."
)


@contextlib.contextmanager
def after_upload() -> Iterator[None]:
    """For reads made once the upload is done: an index error's hint (which says that
    nothing was uploaded, true only before it) is replaced with one that fits."""
    try:
        yield
    except PackageIndexError as exc:
        raise PackageIndexError(exc.code, exc.message, AFTER_UPLOAD_HINT) from None


def _computable(algorithm: str) -> bool:
    try:
        # A SHAKE digest has no fixed size: its hexdigest() needs a length.
        return hashlib.new(algorithm).digest_size > 0
    except ValueError:
        return False


def download(session: requests.Session, file: IndexFile, dest: Path, *, limit: int) -> Path:
    """Fetch a file the index lists, at most ``limit`` bytes, within a deadline that
    grows with ``limit``, checking every digest the listing gives that hashlib knows (the
    callers compare sha256)."""
    # The name comes from the index: it must not lead out of ``dest``.
    name = Path(file.filename).name
    if name != file.filename or name in ("", ".", ".."):
        raise PackageIndexError(
            "index-filename-invalid",
            f"The index lists a file named {printable(file.filename)!r}, which is no file name.",
            "Nothing was uploaded. The index or a proxy in front of it is misbehaving.",
        )
    target = dest / name
    digests = {alg: value for alg, value in file.digests.items() if _computable(alg)}
    hashers = {alg: hashlib.new(alg) for alg in digests}
    deadline = READ_DEADLINE + limit / DOWNLOAD_RATE
    start = time.monotonic()
    try:
        with answer(
            session,
            "GET",
            file.url,
            deadline=deadline,
            until=start + deadline,
            timeout=(10, 60),
        ) as got:
            if got.status != 200:
                raise _download_failed(file, "HTTPError")
            with target.open("wb") as out:
                for chunk in got.chunks(limit):
                    out.write(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
    except (TransportError, OSError) as exc:
        target.unlink(missing_ok=True)
        raise _download_failed(
            file, str(exc) if isinstance(exc, TransportError) else type(exc).__name__
        ) from None
    if any(hashers[alg].hexdigest() != value.lower() for alg, value in digests.items()):
        target.unlink(missing_ok=True)
        raise PackageIndexError(
            "index-digest-mismatch",
            f"The index served {file.filename} with a digest that differs from its listing.",
            "A proxy or cache may be altering downloads; try again later.",
        )
    return target


def _download_failed(file: IndexFile, said: str) -> PackageIndexError:
    return PackageIndexError(
        "index-download-failed",
        f"Cannot download {file.filename} from the index: {said}.",
        "The index lists the file but did not serve it; try again later.",
    )
